import { DatabaseError } from '../../errors/index.js';

type State = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

/**
 * The start/stop state machine every adapter shares: start() is idempotent while starting or
 * started and may be retried after a failure; stop() runs once (later calls get the same promise)
 * and wins over a start still in progress; after stop() the adapter refuses with DB_POOL_CLOSED.
 */
export class AdapterLifecycle {
  readonly #label: string;
  #state: State = 'new';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  /** `label` names the adapter in messages (`SQLite`, `Supabase`). */
  constructor(label: string) {
    this.#label = label;
  }

  /** Runs `open` once per successful start; a failed start resets so it can be retried. */
  start(open: () => Promise<void>): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      return Promise.reject(
        new DatabaseError('DB_POOL_CLOSED', `The ${this.#label} adapter has been stopped; create a new one.`),
      );
    }
    this.#starting ??= (async () => {
      this.#state = 'starting';
      await open();
      // A stop() that began meanwhile wins.
      if (this.#state === 'starting') this.#state = 'started';
    })().catch((err: unknown) => {
      if (this.#state === 'starting') this.#state = 'new';
      this.#starting = null;
      throw err;
    });
    return this.#starting;
  }

  /** Runs `close` once; the adapter is stopped afterwards whether or not `close` failed. */
  stop(close: () => Promise<void>): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      try {
        await close();
      } finally {
        this.#state = 'stopped';
      }
    })();
    return this.#stopping;
  }

  /** Throws unless started: DB_POOL_CLOSED after stop, DB_UNAVAILABLE before start. */
  assertStarted(): void {
    if (this.#state === 'started') return;
    throw new DatabaseError(
      this.#state === 'stopping' || this.#state === 'stopped' ? 'DB_POOL_CLOSED' : 'DB_UNAVAILABLE',
      `The ${this.#label} adapter is ${this.#state === 'new' || this.#state === 'starting' ? 'not started yet' : 'stopped'}.`,
    );
  }
}
