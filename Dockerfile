# syntax=docker/dockerfile:1

# The image runs the current Node.js LTS line (26, tagged `lts` since October 2026) on Debian's
# current stable release. The code itself keeps to Node.js 20.19 or later (package.json
# engines), which development machines and CI still run, so either line builds and runs it.
ARG NODE_IMAGE=node:26-trixie-slim

# ---- build: compile TypeScript (codegen needs the dev dependencies) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json codegen.yml ./
COPY schema ./schema
COPY src ./src
COPY console ./console
RUN npm run build

# ---- runtime: production dependencies, compiled code and the SDL only ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    PGLITE_DATA_DIR=/app/data/pglite
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schema ./schema
# The node image's unprivileged user; it owns only the PGlite data directory.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Not `npm start`: its prestart hook rebuilds, and npm would sit between the signal and the server.
CMD ["node", "dist/main.js"]
