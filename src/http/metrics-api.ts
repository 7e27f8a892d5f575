/**
 * The JSON metrics API (design §8):
 *
 *   GET  /metrics/database/pool          per-pool numbers since the last reset
 *   POST /metrics/database/pool/reset    resets those windowed numbers (Prometheus counters stay monotonic)
 *   GET  /metrics/database/health        healthy / degraded / unhealthy (503 when unhealthy)
 *   GET  /metrics/performance/summary    pools, HTTP, event loop and recommendations
 *   GET  /metrics/database/config        the effective configuration, secrets as "***"
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Container } from '../container.js';

const wrap =
  (fn: (req: Request, res: Response) => Promise<void> | void) => (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch(next);
  };

export function metricsApiRouter(container: Container): Router {
  const router = Router();
  router.get(
    '/metrics/database/pool',
    wrap((_req, res) => {
      res.json(container.getDatabaseMetrics());
    }),
  );
  router.post(
    '/metrics/database/pool/reset',
    wrap((_req, res) => {
      res.json(container.resetDatabaseMetrics());
    }),
  );
  router.get(
    '/metrics/database/health',
    wrap(async (_req, res) => {
      const report = await container.checkDatabaseHealth();
      res.status(report.status === 'unhealthy' ? 503 : 200).json(report);
    }),
  );
  router.get(
    '/metrics/performance/summary',
    wrap((_req, res) => {
      res.json(container.performanceSummary());
    }),
  );
  router.get(
    '/metrics/database/config',
    wrap((_req, res) => {
      res.json(container.redactedConfig());
    }),
  );
  return router;
}
