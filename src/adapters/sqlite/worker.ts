/**
 * Worker-thread entry point: owns one SQLite connection (a {@link SqliteEngine}) and answers the
 * requests of its WorkerConnection by id. better-sqlite3 is synchronous, so a slow query blocks
 * this thread only, never the main event loop (design §5).
 *
 * Spawned by connection.ts as `new Worker(path.join(__dirname, 'worker.js'), { workerData })`.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { SqliteEngine } from './engine.js';
import {
  serializeError,
  type ControlRequest,
  type EngineOptions,
  type StatementRequest,
  type WorkerHello,
  type WorkerRequest,
  type WorkerResponse,
} from './protocol.js';

const MODES = ['all', 'get', 'run'] as const;

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('worker.js must run in a worker thread');
  let engine: SqliteEngine;
  try {
    engine = SqliteEngine.open(workerData as EngineOptions);
  } catch (err) {
    const hello: WorkerHello = { ready: false, error: serializeError(err) };
    port.postMessage(hello);
    port.close();
    return;
  }

  /** SQL texts by the numbers the connection assigned to them (see StatementRequest). */
  const sqlById = new Map<number, string>();

  const statement = (request: StatementRequest): unknown => {
    const [, modeCode, ref, params, register] = request;
    if (register !== undefined && typeof ref === 'number') sqlById.set(ref, register);
    const sql = typeof ref === 'number' ? sqlById.get(ref) : ref;
    if (sql === undefined)
      throw Object.assign(new Error(`unknown statement #${ref}`), { code: 'BW_PROTOCOL' });
    const mode = MODES[modeCode];
    return mode === 'all' ? engine.executeCompact(sql, params) : engine.execute(mode, sql, params);
  };

  const control = (request: ControlRequest): unknown => {
    switch (request.op) {
      case 'tx':
        return engine.transaction(request.steps);
      case 'migrate':
        return engine.migrate(request.files, request.where);
      case 'prepare':
        for (const [number, sql] of request.statements) sqlById.set(number, sql);
        return engine.prepareAll(request.statements.map(([, sql]) => sql));
      case 'ping':
        return engine.ping();
      case 'close':
        engine.close();
        return true;
    }
  };

  port.on('message', (request: WorkerRequest) => {
    const isStatement = Array.isArray(request);
    const id = isStatement ? (request as StatementRequest)[0] : (request as ControlRequest).id;
    let response: WorkerResponse;
    try {
      response = [
        id,
        1,
        isStatement ? statement(request as StatementRequest) : control(request as ControlRequest),
      ];
    } catch (err) {
      response = [id, 0, serializeError(err)];
    }
    try {
      port.postMessage(response);
    } catch (err) {
      // A result that cannot be cloned must still answer the request, or the caller waits forever.
      port.postMessage([id, 0, serializeError(err)] satisfies WorkerResponse);
    }
    // After a close the thread has nothing left to do; closing the port lets it exit by itself.
    if (!isStatement && (request as ControlRequest).op === 'close') port.close();
  });
  const hello: WorkerHello = { ready: true };
  port.postMessage(hello);
}

main();
