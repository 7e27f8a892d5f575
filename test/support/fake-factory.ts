/**
 * An in-memory ConnectionFactory for pool tests: counts every call, can be told to delay, fail,
 * hang or mark connections broken, and records what a pool must never do (validate a connection in
 * use, destroy one twice, destroy one it never created).
 */
import type { ConnectionFactory } from '../../src/pool/index.js';

export interface FakeConnection {
  readonly id: number;
  /** isBroken() reports true: the pool must not lend it again. */
  broken: boolean;
  /** validate() answers false for this connection. */
  failValidate: boolean;
  /** Set by tests while a withConnection callback holds it. */
  inUse: boolean;
  destroyed: boolean;
}

/** A failure rule: false/undefined = succeed, a string = fail with that message, or decide per call. */
export type FailRule = false | string | (() => string | false);

export class FakeFactory implements ConnectionFactory<FakeConnection> {
  /** Delay of create() / destroy() / validate() in ms (0 = next microtask). */
  createDelayMs = 0;
  destroyDelayMs = 0;
  validateDelayMs = 0;
  /** create() never settles. */
  createHangs = false;
  /** destroy() never settles. */
  destroyHangs = false;
  failCreate: FailRule = false;
  failDestroy: FailRule = false;
  /** Applies to every validate() (besides per-connection `failValidate`). */
  failValidate: FailRule = false;

  /** create() calls, successful ones, failed ones. */
  createCalls = 0;
  created = 0;
  createFailures = 0;
  /** destroy() calls (including failing ones) and completed ones. */
  destroyCalls = 0;
  destroyed = 0;
  /** Ids passed to validate(), in order. */
  readonly validated: number[] = [];
  /** Things that must stay 0. */
  validatedWhileInUse = 0;
  doubleDestroys = 0;
  foreignDestroys = 0;
  /** Most create() calls in flight at once. */
  maxConcurrentCreates = 0;

  /** Every connection ever created, by id - 1. */
  readonly all: FakeConnection[] = [];
  /** Created and not destroyed. */
  readonly open = new Set<FakeConnection>();
  #inFlightCreates = 0;

  async create(): Promise<FakeConnection> {
    this.createCalls++;
    this.#inFlightCreates++;
    this.maxConcurrentCreates = Math.max(this.maxConcurrentCreates, this.#inFlightCreates);
    try {
      if (this.createHangs) await new Promise<never>(() => undefined);
      await delay(this.createDelayMs);
      const failure = decide(this.failCreate);
      if (failure !== false) {
        this.createFailures++;
        throw new Error(failure);
      }
    } finally {
      this.#inFlightCreates--;
    }
    const connection: FakeConnection = {
      id: this.all.length + 1,
      broken: false,
      failValidate: false,
      inUse: false,
      destroyed: false,
    };
    this.all.push(connection);
    this.open.add(connection);
    this.created++;
    return connection;
  }

  async destroy(connection: FakeConnection): Promise<void> {
    this.destroyCalls++;
    if (this.all[connection.id - 1] !== connection) this.foreignDestroys++;
    if (connection.destroyed) this.doubleDestroys++;
    // Marked at once: the pool has given it up whatever happens next.
    connection.destroyed = true;
    this.open.delete(connection);
    if (this.destroyHangs) await new Promise<never>(() => undefined);
    await delay(this.destroyDelayMs);
    const failure = decide(this.failDestroy);
    if (failure !== false) throw new Error(failure);
    this.destroyed++;
  }

  async validate(connection: FakeConnection): Promise<boolean> {
    this.validated.push(connection.id);
    if (connection.inUse) this.validatedWhileInUse++;
    await delay(this.validateDelayMs);
    const failure = decide(this.failValidate);
    if (failure !== false) throw new Error(failure);
    return !connection.failValidate && !connection.broken;
  }

  isBroken(connection: FakeConnection): boolean {
    return connection.broken;
  }
}

function decide(rule: FailRule): string | false {
  return typeof rule === 'function' ? rule() : rule;
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
