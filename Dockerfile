# syntax=docker/dockerfile:1
# pg-cdc in a container: `docker build -t pg-cdc .`, then any command, e.g.
#   docker run --rm -v ./pg-cdc.yml:/etc/pg-cdc/pg-cdc.yml:ro -v pg-cdc-state:/var/lib/pg-cdc pg-cdc start
# docker-compose.yml runs it next to PostgreSQL and Temporal; docs/deployment.md has the details.
ARG NODE_IMAGE=node:20-bookworm-slim

# Production dependencies only: pg-cdc runs its TypeScript through esbuild and tsx, which are among them. The
# compilers are there for a native module whose prebuilt binary cannot be downloaded, and stay in this stage.
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/pg-cdc
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /opt/pg-cdc
ENV NODE_ENV=production \
  PGCDC_CONFIG=/etc/pg-cdc/pg-cdc.yml \
  PGCDC_CACHE_DIR=/opt/pg-cdc/.cache \
  PGCDC_HEALTH_URL=http://127.0.0.1:9090/healthz
COPY --from=deps /opt/pg-cdc/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
# The folders bin/launch.mjs bundles (SOURCE_DIRS), one by one: nothing else of the build context (tests, local
# configurations, state) enters the image.
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY core ./core
COPY engine ./engine
COPY governance ./governance
COPY lake ./lake
COPY source ./source
COPY stack ./stack
COPY stream ./stream
COPY workers ./workers
COPY workflows ./workflows
# Both bundles are built now, so no container pays for them at start: the CLI's (dist/, keyed by the sources'
# sizes and times, which the image fixes) and the workflows' (the cache, keyed by their content). The cache stays
# writable by the runtime user; the CLI falls back to tsx if its bundle ever does not match.
RUN node --input-type=module -e "await (await import('./bin/launch.mjs')).bundledEntry()" \
  && node --import tsx --input-type=module -e "await (await import('./workers/worker.ts')).bundleWorkflows()" \
  && mkdir -p /var/lib/pg-cdc /etc/pg-cdc \
  && chown -R node:node /var/lib/pg-cdc "$PGCDC_CACHE_DIR"

# The image's own user (uid 1000). A named volume mounted at /var/lib/pg-cdc starts with this directory's owner.
USER node
VOLUME ["/var/lib/pg-cdc"]
# metrics.listen of `start` (set it to 0.0.0.0:9090 in pg-cdc.yml to scrape it from outside the container).
EXPOSE 9090
# `start` and `worker --metrics-listen` answer /healthz beside /metrics, `serve --http` on its own port: point
# PGCDC_HEALTH_URL at the one the command serves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PGCDC_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `start` stops gracefully on SIGTERM within 90 s (docs/streaming.md): give `docker stop` a --time above that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/pg-cdc.js"]
CMD ["start"]
