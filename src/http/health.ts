/**
 * Probes. Liveness never touches a database: it says the process and its event loop answer.
 * Readiness says the pools are warm, the service is not stopping and the database answers its test
 * query; it is what a load balancer should route on. It lists each dependency with its verdict and
 * latency (`{name, healthy, latency_ms, error}`). The test query is bounded by
 * HEALTH_CHECK_TIMEOUT_MS, never runs twice at once, and its verdict is reused for about a second
 * (see DependencyProbe), so probes cannot hammer the database or pile up behind a slow one.
 */
import { Router } from 'express';
import type { Container } from '../container.js';

export function healthRouter(container: Container): Router {
  const router = Router();

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok', uptime_seconds: Math.round(process.uptime()) });
  });

  router.get('/health/ready', async (_req, res, next) => {
    try {
      const readiness = await container.readiness();
      const pools = container.adapter.pools().map((pool) => {
        const s = pool.snapshot();
        return {
          name: s.name,
          total: s.total,
          used: s.used,
          idle: s.idle,
          pending: s.pending,
          min: s.min,
          max: s.max,
        };
      });
      if (readiness.ready) {
        res.json({ status: 'ready', state: readiness.state, dependencies: readiness.dependencies, pools });
        return;
      }
      res.setHeader('Retry-After', '1');
      res.status(503).json({
        status: 'not_ready',
        state: readiness.state,
        ...(readiness.reason === null ? {} : { reason: readiness.reason }),
        dependencies: readiness.dependencies,
        pools,
      });
    } catch (err) {
      next(err);
    }
  });

  return router;
}
