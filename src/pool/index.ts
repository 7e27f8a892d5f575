export { ObservedPool } from './observed-pool.js';
export { PoolTimeoutError, PoolSaturatedError, PoolClosedError, isCreateFailureTimeout } from './errors.js';
export type {
  AcquireOutcome,
  CloseReason,
  ConnectionFactory,
  CreateOutcome,
  DistributionSummary,
  ObservedPoolOptions,
  PoolObserver,
  PoolSnapshot,
  PoolStats,
  PoolStopReport,
} from './types.js';
