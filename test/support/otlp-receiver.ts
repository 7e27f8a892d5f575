/**
 * A tiny OTLP/HTTP receiver (JSON encoding, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) on loopback:
 * it accepts `POST /v1/traces` (and answers `/v1/metrics` and `/v1/logs` without keeping them) and
 * flattens the received spans for assertions. Protobuf bodies are refused with 415, so a wrong
 * protocol setting fails loudly instead of silently.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpAttributeValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Record<string, string | number | boolean>;
  readonly status: { readonly code?: number; readonly message?: string };
  readonly events: Array<{ name: string; attributes: Record<string, string | number | boolean> }>;
  readonly resource: Record<string, string | number | boolean>;
  readonly scope: string;
}

interface OtlpKeyValue {
  key: string;
  value: OtlpAttributeValue;
}

interface OtlpTraceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpKeyValue[];
        status?: { code?: number; message?: string };
        events?: Array<{ name: string; attributes?: OtlpKeyValue[] }>;
      }>;
    }>;
  }>;
}

function value(v: OtlpAttributeValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return JSON.stringify(v);
}

function attributes(list: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>` — the value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Export requests received, by path. */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const pathname = (req.url ?? '').split('?')[0] ?? '';
      requests.set(pathname, (requests.get(pathname) ?? 0) + 1);
      if (req.method !== 'POST' || !['/v1/traces', '/v1/metrics', '/v1/logs'].includes(pathname)) {
        res.writeHead(404).end();
        return;
      }
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
        res.writeHead(415, { 'content-type': 'text/plain' }).end('this receiver only speaks OTLP/HTTP JSON');
        return;
      }
      if (pathname === '/v1/traces') {
        let body: OtlpTraceRequest;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraceRequest;
        } catch {
          res.writeHead(400).end();
          return;
        }
        for (const rs of body.resourceSpans ?? []) {
          const resource = attributes(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                kind: s.kind,
                attributes: attributes(s.attributes),
                status: s.status ?? {},
                events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attributes(e.attributes) })),
                resource,
                scope: ss.scope?.name ?? '',
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
