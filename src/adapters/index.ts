export type {
  AdapterHealth,
  DatabaseAdapter,
  Filter,
  FilterOperator,
  OperationInfo,
  OperationInstrumentation,
  Row,
  RowUpdate,
  SearchQuery,
  SearchResult,
  SortKey,
} from './contract.js';
export { NO_INSTRUMENTATION } from './contract.js';
