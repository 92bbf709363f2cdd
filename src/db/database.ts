import { Kysely, PostgresDialect, sql } from 'kysely';
import { Pool, types } from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config, DatabaseTarget } from '../config';
import type { DB } from './schema';
import { PGlitePool } from './pglite-pool';
import { hearLosses } from './lost-connections';
import { PipelinedPool } from './pipelined-pool';
import { PreparingPool, StatementNames } from './prepared-pool';
import { migrate } from './migrate';
import { claimDataDir } from './data-dir-lock';

export type Db = Kysely<DB>;

export interface Database {
  db: Db;
  /**
   * Where a statement that stands alone (in no transaction of the caller's) runs: on
   * PostgreSQL, connections shared by concurrent requests (db/pipelined-pool.ts, which commits
   * the statements that arrive together in one transaction, each still failing alone) when the
   * pool has any; otherwise `db` itself, where each is autocommitted.
   */
  statements: Db;
  /** Where insights read: the read replica (DATABASE_READ_URL) when one is configured, else `db`. */
  reads: Db;
  kind: 'postgres' | 'pglite';
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

// Both drivers read int8 (counts, sequences) as numbers and date as 'YYYY-MM-DD' text.
const asText = (v: string) => v;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === types.builtins.INT8) return (v: string) => Number(v);
    if (oid === types.builtins.DATE) return asText;
    return types.getTypeParser(oid, format);
  }) as typeof types.getTypeParser,
};
const pgliteParsers = { [types.builtins.DATE]: asText };
/** PGlite's extensions, loaded with every instance: pg_trgm for indexed substring search over members (migration 009), as on a server. */
export const PGLITE_EXTENSIONS = { pg_trgm };

export interface OpenOptions {
  poolSize?: number;
  /** PostgreSQL only: how long an idle pool connection stays open (default 300,000 ms). */
  poolIdleMs?: number;
  /** PostgreSQL only: run everything inside this schema (created if missing). Used by tests. */
  schema?: string;
  /** PostgreSQL only: connections shared by statements that stand alone (0: they take pool connections). */
  pipelinedConnections?: number;
  /** PostgreSQL only: most statements of those connections committed together (1: each alone). */
  commitGroup?: number;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /**
   * PostgreSQL only: told once for each pool connection the server closes, idle or in use (a
   * restart, an administrator's pg_terminate_backend, a proxy's idle timeout). The pool drops it
   * and opens another when next needed; the process carries on either way (main.ts logs it).
   */
  onConnectionLost?: (error: Error) => void;
  /**
   * PGlite in memory only: start from this data directory (a PGlite dumpDataDir tarball, say of
   * a database already migrated) instead of an empty one, which skips initdb (about 1 s to
   * start instead of 3.5). The tests start every app this way (test/support/pglite-template.ts).
   */
  template?: Blob;
}

/** Logs a pool connection the server closed (OpenOptions.onConnectionLost), once per connection. */
export function connectionLost(logger: Pick<Logger, 'warn'>): (error: Error) => void {
  return (error) => logger.warn({ err: error }, 'the database closed a connection; the pool opens another when needed');
}

/** The pool's settings from the service's configuration, as the server and the tests open the database. */
export function openOptions(config: Config): OpenOptions {
  return {
    poolSize: config.dbPoolSize, poolIdleMs: config.dbPoolIdleMs,
    pipelinedConnections: config.dbPipelinedConnections, commitGroup: config.dbCommitGroup,
  };
}

/** Opens the system of record (pg pool or PGlite) behind one Kysely instance and migrates it. */
export async function openDatabase(target: DatabaseTarget, options: OpenOptions = {}): Promise<Database> {
  let database: Database;
  if (target.kind === 'postgres') {
    if (options.schema) {
      const admin = new Pool({ connectionString: target.url, max: 1 });
      await admin.query(`create schema if not exists "${options.schema}"`);
      await admin.end();
    }
    const connection = {
      connectionString: target.url,
      types: pgTypes,
      ...(options.schema ? { options: `-c search_path="${options.schema}"` } : {}),
    };
    const lost = (error: Error) => options.onConnectionLost?.(error);
    // Lets a held-back BEGIN leave with the transaction's first statement (prepared-pool.ts).
    const pool = hearLosses(new Pool({ ...connection, max: options.poolSize ?? 10, idleTimeoutMillis: options.poolIdleMs ?? 300_000, pipeline: true }), lost);
    const names = new StatementNames();
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: new PreparingPool(pool, names) }) });
    const shared = options.pipelinedConnections ?? 0;
    const pipelined = shared > 0 ? new PipelinedPool(connection, shared, names, options.commitGroup ?? 1, lost) : null;
    const statements = pipelined ? new Kysely<DB>({ dialect: new PostgresDialect({ pool: pipelined }) }) : db;
    const replica = target.readUrl
      ? hearLosses(new Pool({ ...connection, connectionString: target.readUrl, max: Math.max(2, Math.ceil((options.poolSize ?? 10) / 2)), idleTimeoutMillis: options.poolIdleMs ?? 300_000 }), lost)
      : null;
    const reads = replica ? new Kysely<DB>({ dialect: new PostgresDialect({ pool: replica }) }) : db;
    database = {
      db, statements, reads, kind: 'postgres', ping: () => ping(db),
      close: async () => {
        if (statements !== db) await statements.destroy();
        if (reads !== db) await reads.destroy();
        await db.destroy();
      },
    };
  } else {
    if (target.dataDir) mkdirSync(target.dataDir, { recursive: true });
    const release = target.dataDir ? claimDataDir(target.dataDir) : () => undefined;
    const start = target.dataDir ? { dataDir: target.dataDir } : options.template ? { loadDataDir: options.template } : {};
    const pg = new PGlite({ ...start, parsers: pgliteParsers, extensions: PGLITE_EXTENSIONS });
    await pg.waitReady.catch((error: unknown) => {
      release();
      throw error;
    });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: new PGlitePool(pg) }) });
    database = {
      db, statements: db, reads: db, kind: 'pglite', ping: () => ping(db),
      close: async () => {
        await db.destroy();
        release();
      },
    };
  }
  if (options.migrate !== false) await migrate(database.db);
  return database;
}

async function ping(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
