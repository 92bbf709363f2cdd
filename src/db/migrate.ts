import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Db } from './database';

const MIGRATIONS_DIR = join(__dirname, 'migrations');
// Any constant shared by all instances: serialises concurrent starts against one database.
const MIGRATION_LOCK = 7_261_524;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The versioned SQL files, ordered by their numeric prefix (`003_tiers.sql` is version 3). */
export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d+_.+\.sql$/.test(file))
    .map((file) => ({
      version: Number(file.split('_')[0]),
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(join(dir, file), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
}

/**
 * Applies every migration not yet recorded, all in one transaction that holds a transaction-scoped
 * advisory lock until it commits. If one migration fails, none of this call's migrations is applied
 * or recorded.
 */
export async function migrate(db: Db, migrations = listMigrations()): Promise<number[]> {
  const applied: number[] = [];
  await db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(tx);
    await sql`create table if not exists schema_migrations (
      version int primary key, name text not null, applied_at timestamptz not null default now())`.execute(tx);
    const done = await sql<{ version: number }>`select version from schema_migrations`.execute(tx);
    const have = new Set(done.rows.map((r) => r.version));
    for (const migration of migrations) {
      if (have.has(migration.version)) continue;
      await sql.raw(migration.sql).execute(tx);
      await sql`insert into schema_migrations (version, name) values (${migration.version}, ${migration.name})`.execute(tx);
      applied.push(migration.version);
    }
  });
  return applied;
}
