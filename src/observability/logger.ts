/**
 * Structured logs (pino, JSON lines on stdout). Every line logged inside a traced operation
 * carries `trace_id` and `span_id`, so a log line leads to its trace and back.
 *
 * Secrets never reach a log line: request headers that carry credentials are redacted, and
 * the config is only ever logged through `redactConfig`.
 */
import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: string;
  readonly serviceName: string;
  /** Where lines go (stdout by default); tests pass a stream to capture them. */
  readonly destination?: DestinationStream;
}

const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.apikey',
  'req.headers.cookie',
  'headers.authorization',
  'headers.apikey',
  '*.key',
  '*.token',
  '*.password',
  '*.metricsToken',
];

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.serviceName },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '***' },
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const { traceId, spanId } = span.spanContext();
        return { trace_id: traceId, span_id: spanId };
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
