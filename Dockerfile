# syntax=docker/dockerfile:1
#
# The zerodrop gateway image: `zerodrop serve` on port 8000, as user `node`, with only the compiled
# packages and their production dependencies. Build from the repository root:
#
#   docker build -t zerodrop-gateway .
#
# `docker stop` (and Kubernetes) send SIGTERM: the gateway drains for ZERODROP_DRAIN_GRACE (30 s by
# default), moving every device to another instance, then exits 0. Give the container longer than
# that to stop (compose: stop_grace_period, Kubernetes: terminationGracePeriodSeconds).

ARG NODE_IMAGE=node:20-bookworm-slim

# ── build: every dependency, compile the workspaces ─────────────────────────────────────────────────
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests first, so the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
# --ignore-scripts: the root `prepare` script runs the build, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json ./
COPY scripts/copy-assets.mjs scripts/
COPY packages/ packages/
# Type declarations, source maps and build info are not read at run time.
RUN npm run build \
 && find packages/*/dist \( -name '*.d.ts' -o -name '*.map' -o -name '.tsbuildinfo' \) -delete

# ── production-deps: what `node` needs at run time, nothing else ────────────────────────────────────
FROM ${NODE_IMAGE} AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
# node_modules/@zerodrop/* are relative links to packages/*, filled in by the runtime stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ── runtime ─────────────────────────────────────────────────────────────────────────────────────────
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-deps /app/package.json ./
COPY --from=production-deps /app/node_modules node_modules/
COPY --from=build /src/packages/protocol/package.json packages/protocol/
COPY --from=build /src/packages/protocol/dist packages/protocol/dist/
COPY --from=build /src/packages/client/package.json packages/client/
COPY --from=build /src/packages/client/dist packages/client/dist/
COPY --from=build /src/packages/server/package.json packages/server/
COPY --from=build /src/packages/server/dist packages/server/dist/
COPY --from=build /src/packages/cli/package.json packages/cli/
COPY --from=build /src/packages/cli/dist packages/cli/dist/
# The files stay root's: the gateway writes nothing to disk, and cannot change its own code.
USER node
EXPOSE 8000
STOPSIGNAL SIGTERM
# Liveness only: /health answers 200 while the process serves, draining or not. The image has no
# curl; node's fetch does the same. PORT is the gateway's own setting (default 8000).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "packages/cli/dist/bin.js", "serve"]
