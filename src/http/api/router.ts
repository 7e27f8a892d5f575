/**
 * The domain API: the same routes for every table, built from its TableDefinition.
 *
 *   GET    /api/:table               search (filters, q, sort, limit/offset, include) → page
 *   POST   /api/:table               create one                                        → 201
 *   POST   /api/:table/batch         create many, one transaction  {items: [...]}      → 201
 *   PATCH  /api/:table/batch         update many, one transaction  {items: [{id, changes}]}
 *   POST   /api/:table/lookup        look up many ids              {ids: [...], include?}
 *   GET    /api/:table/:id           get one (include=)
 *   PATCH  /api/:table/:id           update one
 *   DELETE /api/:table/:id           delete one                                        → 204
 *   GET    /api/sessions/:id/content a session's whole content
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { HttpConfig } from '../../config/index.js';
import { AppError, ValidationError } from '../../errors/index.js';
import type { Repositories, TableRepository } from '../../repositories/index.js';
import { TABLE_NAMES } from '../../schema/tables.js';
import { jsonBody } from '../body.js';
import { rememberRoute } from '../request-context.js';
import { listParam, parseSearchQuery } from './query.js';
import { parseOrThrow, schemasFor, uuid, UUID_PATTERN } from './schemas.js';

type AsyncHandler = (req: Request, res: Response) => Promise<void>;

/** Express 5 forwards rejected promises, but being explicit keeps the contract obvious. */
const handle =
  (fn: AsyncHandler): RequestHandler =>
  (req: Request, res: Response, next: NextFunction) => {
    rememberRoute(req);
    fn(req, res).catch(next);
  };

function idParam(req: Request, table: string): string {
  const id = req.params.id;
  if (typeof id !== 'string' || !UUID_PATTERN.test(id)) {
    throw new ValidationError(`Malformed ${table} id ${JSON.stringify(String(id).slice(0, 64))}: expected a UUID.`, {
      field: 'id',
    });
  }
  return id.toLowerCase();
}

function includeParam(req: Request): string[] {
  const raw = req.query.include;
  if (raw !== undefined && typeof raw !== 'string') {
    throw new ValidationError('Query parameter "include" was given more than once.', { field: 'include' });
  }
  return listParam(raw);
}

/** Only JSON bodies are accepted on writes. */
const requireJson: RequestHandler = (req, _res, next) => {
  // First handler of every write route: its errors (and the body parser's) keep the route label.
  rememberRoute(req);
  if (!req.is('application/json')) {
    next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as JSON (Content-Type: application/json).'));
    return;
  }
  next();
};

function batchSizeGuard(items: unknown, max: number): void {
  if (Array.isArray(items) && items.length > max) {
    throw new AppError('PAYLOAD_TOO_LARGE', `A batch may hold at most ${max} items (got ${items.length}).`, {
      details: { max_items: max, items: items.length },
    });
  }
}

function tableRouter(repo: TableRepository, http: HttpConfig, rateLimit: RequestHandler): Router {
  const router = Router();
  // Parsed after the route matched (not for all of /api), so that 413 and bad-JSON responses are
  // labelled with their route template rather than `unmatched`. The rate limit comes first: a
  // refused write's body is never read.
  const writeBody: RequestHandler[] = [rateLimit, requireJson, jsonBody({ limitBytes: http.maxBodyBytes })];
  // A look-up is a read that happens to need a body: not rate-limited.
  const readBody: RequestHandler[] = [requireJson, jsonBody({ limitBytes: http.maxBodyBytes })];
  const table = repo.table;
  const schemas = schemasFor(table);
  const batchCreate = z.strictObject({ items: z.array(schemas.create).min(1, 'must hold at least one item') });
  const batchUpdate = z.strictObject({
    items: z
      .array(z.strictObject({ id: uuid, changes: schemas.update }))
      .min(1, 'must hold at least one item')
      .superRefine((items, ctx) => {
        // Each repeat is reported at its own index, naming the first occurrence.
        const first = new Map<string, number>();
        items.forEach((item, index) => {
          const id = item.id.toLowerCase();
          const seen = first.get(id);
          if (seen === undefined) first.set(id, index);
          else ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `repeats the id of items[${seen}]: an id may not appear twice in one batch` });
        });
      }),
  });
  const lookup = z.strictObject({
    ids: z.array(uuid).min(1, 'must hold at least one id').max(http.maxBatchSize),
    include: z.array(z.string()).max(20).optional(),
  });
  const limits = { maxPageSize: http.maxPageSize, defaultPageSize: Math.min(50, http.maxPageSize) };

  router.get(
    '/',
    handle(async (req, res) => {
      const params = parseSearchQuery(table, req.query as Record<string, string | string[] | undefined>, limits);
      res.json(await repo.search(params));
    }),
  );

  router.post(
    '/',
    ...writeBody,
    handle(async (req, res) => {
      const row = parseOrThrow(schemas.create, req.body, `${table.name} row`);
      res.status(201).json(await repo.create(row));
    }),
  );

  router.post(
    '/batch',
    ...writeBody,
    handle(async (req, res) => {
      batchSizeGuard((req.body as { items?: unknown } | undefined)?.items, http.maxBatchSize);
      const { items } = parseOrThrow(batchCreate, req.body, `${table.name} batch`);
      res.status(201).json({ data: await repo.createMany(items) });
    }),
  );

  router.patch(
    '/batch',
    ...writeBody,
    handle(async (req, res) => {
      batchSizeGuard((req.body as { items?: unknown } | undefined)?.items, http.maxBatchSize);
      const { items } = parseOrThrow(batchUpdate, req.body, `${table.name} batch update`);
      res.json({ data: await repo.updateMany(items.map((i) => ({ id: i.id.toLowerCase(), changes: i.changes }))) });
    }),
  );

  router.post(
    '/lookup',
    ...readBody,
    handle(async (req, res) => {
      batchSizeGuard((req.body as { ids?: unknown } | undefined)?.ids, http.maxBatchSize);
      const body = parseOrThrow(lookup, req.body, `${table.name} lookup`);
      res.json(await repo.getMany(body.ids.map((id) => id.toLowerCase()), body.include ?? []));
    }),
  );

  router.get(
    '/:id',
    handle(async (req, res) => {
      res.json(await repo.get(idParam(req, table.name), includeParam(req)));
    }),
  );

  router.patch(
    '/:id',
    ...writeBody,
    handle(async (req, res) => {
      const id = idParam(req, table.name);
      const changes = parseOrThrow(schemas.update, req.body, `${table.name} update`);
      res.json(await repo.update(id, changes));
    }),
  );

  router.delete(
    '/:id',
    rateLimit,
    handle(async (req, res) => {
      await repo.delete(idParam(req, table.name));
      res.status(204).end();
    }),
  );

  return router;
}

/** The `/api` router for every table. */
export function apiRouter(repositories: Repositories, http: HttpConfig, rateLimit: RequestHandler): Router {
  const router = Router();

  router.get(
    '/sessions/:id/content',
    handle(async (req, res) => {
      res.json(await repositories.sessionContent(idParam(req, 'sessions')));
    }),
  );
  for (const name of TABLE_NAMES) router.use(`/${name}`, tableRouter(repositories[name], http, rateLimit));
  return router;
}
