/**
 * Builds the admin console and the GraphQL explorer into dist/console, served by the API at
 * /admin (src/console.http.ts) and GET /graphql (src/graphql/explorer.ts). Everything they load
 * is in that folder: no CDN, no font service.
 */
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: '/admin/',
  // React's automatic runtime through Vite's own transform: no Babel plugin needed.
  oxc: { jsx: { runtime: 'automatic' } },
  logLevel: 'warn',
  build: {
    outDir: resolve(here, '..', 'dist', 'console'),
    emptyOutDir: true,
    // The explorer's editor (Monaco) is one large chunk by design; it loads only on /graphql.
    chunkSizeWarningLimit: 6000,
    sourcemap: false,
    rollupOptions: {
      input: { console: resolve(here, 'index.html'), explorer: resolve(here, 'graphiql.html') },
      // React libraries mark modules "use client" for server rendering, which a browser bundle has no use for.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
