/**
 * Worker-thread entry point: owns one SQLite connection (a {@link SqliteEngine}) and answers the
 * requests of its SqliteConnection by id. better-sqlite3 is synchronous, so a slow query blocks
 * this thread only, never the main event loop (design §5).
 *
 * Spawned by worker-connection.ts as `new Worker(path.join(__dirname, 'worker.js'), { workerData })`.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { SqliteEngine } from './engine.js';
import {
  serializeError,
  type EngineOptions,
  type WorkerHello,
  type WorkerRequest,
  type WorkerResponse,
} from './protocol.js';

function handle(engine: SqliteEngine, request: WorkerRequest): unknown {
  switch (request.op) {
    case 'stmt':
      return engine.execute(request.mode, request.sql, request.params);
    case 'tx':
      return engine.transaction(request.steps);
    case 'migrate':
      return engine.migrate(request.files, request.where);
    case 'ping':
      return engine.ping();
    case 'close':
      engine.close();
      return true;
  }
}

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
  port.on('message', (request: WorkerRequest) => {
    let response: WorkerResponse;
    try {
      response = { id: request.id, ok: true, result: handle(engine, request) };
    } catch (err) {
      response = { id: request.id, ok: false, error: serializeError(err) };
    }
    try {
      port.postMessage(response);
    } catch (err) {
      // A result that cannot be cloned must still answer the request, or the caller waits forever.
      port.postMessage({ id: request.id, ok: false, error: serializeError(err) } satisfies WorkerResponse);
    }
    // After a close the thread has nothing left to do; closing the port lets it exit by itself.
    if (request.op === 'close') port.close();
  });
  const hello: WorkerHello = { ready: true };
  port.postMessage(hello);
}

main();
