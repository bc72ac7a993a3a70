# syntax=docker/dockerfile:1
# Export@Scale server image; README.md, "Deployment", shows how to build and
# run it.
# test/deploy/image.test.ts replays this file without a container engine:
# the same COPY lines and RUN commands in a temp folder, then CMD and
# HEALTHCHECK as an unprivileged user. Keep to the instructions it knows.

# The Node.js version CI runs the tests on (.github/workflows/ci.yml).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so a source-only change reuses this layer.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY src ./src
# Compiles src/ and gen/ to dist/src/ and dist/gen/.
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. None has an install script, so none runs;
# the npm cache stays in the build cache, out of the image. No font
# packages: the PDF renderer embeds DejaVu Sans from the dejavu-fonts-ttf
# npm package.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist ./dist
# The base image's `node` user, by number so that Kubernetes' runAsNonRoot
# can verify it. Files stay root's: the server writes nothing, so the
# image runs with a read-only root filesystem.
USER 1000:1000
# gRPC, gRPC-Web and Connect; then /metrics, /healthz and /readyz.
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "dist/src/healthcheck.js"]
# node itself is PID 1: it handles SIGTERM (graceful drain, see
# SHUTDOWN_GRACE_MS) and starts no child processes, so no init is needed.
# Never `npm start`: npm would not pass SIGTERM on. The flags are `npm
# start`'s too: a floor under V8's old-generation limit, without which
# V8 often collects in full every 20,000 or so CSV rows, and V8's gc for
# the young collections the server asks for every MiB it sends, without
# which dead buffers pile up (README, "Performance").
CMD ["node", "--initial-old-space-size=64", "--expose-gc", "dist/src/main.js"]
