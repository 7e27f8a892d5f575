# syntax=docker/dockerfile:1
#
# bookswriter-data: the service image. Build: `docker build -t bookswriter-data .`
# (docker-compose.yml builds it as the `app` service).
#
# Two stages on the same pinned Debian bookworm base, so the better-sqlite3 addon compiled in
# the build stage links against the same glibc at run time.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: install every dependency, compile TypeScript, then drop dev dependencies --------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# better-sqlite3 compiles its native addon when no prebuilt binary matches: node-gyp needs
# python3, make and a C++ compiler.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && npm cache clean --force

# ---- runtime: production dependencies, compiled JS and migrations; runs as `node` ----------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    SQLITE_DB_PATH=/data/bookswriter.db
WORKDIR /app

# Application files stay owned by root (read-only for the service user); only /data is writable.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations

# The SQLite database (and its -wal/-shm files) lives in a volume owned by the service user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]

USER node
EXPOSE 3000

# No curl in the slim image: Node's global fetch probes readiness (pools warm, migrations applied).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Node runs as PID 1 and handles SIGTERM itself (graceful drain, then pool shutdown).
CMD ["node", "dist/src/main.js"]
