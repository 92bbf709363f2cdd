// PGlite publishes its contrib extensions as subpaths of its package "exports" only, which this
// project's module resolution (node10) does not read; Node's require does, so only the type is
// declared here.
declare module '@electric-sql/pglite/contrib/pg_trgm' {
  import type { Extension } from '@electric-sql/pglite';
  export const pg_trgm: Extension;
}
