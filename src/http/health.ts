/**
 * Probes. Liveness never touches a database: it says the process and its event loop answer.
 * Readiness says the pools are warm and the service is not stopping; it is what a load balancer
 * should route on.
 */
import { Router } from 'express';
import type { Container } from '../container.js';

export function healthRouter(container: Container): Router {
  const router = Router();

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok', uptime_seconds: Math.round(process.uptime()) });
  });

  router.get('/health/ready', (_req, res) => {
    const state = container.state();
    const pools = container.adapter.pools().map((pool) => {
      const s = pool.snapshot();
      return { name: s.name, total: s.total, used: s.used, idle: s.idle, pending: s.pending, min: s.min, max: s.max };
    });
    if (container.isReady()) {
      res.json({ status: 'ready', state, pools });
      return;
    }
    res.setHeader('Retry-After', '1');
    res.status(503).json({
      status: 'not_ready',
      state,
      ...(container.startError() ? { reason: container.startError() } : {}),
      pools,
    });
  });

  return router;
}
