/**
 * Every test app on PGlite starts from one migrated data directory instead of an empty one:
 * PGlite's initdb takes about 3.5 s a database on a 2-core machine, loading a dump about 1 s.
 * jest's globalSetup makes the dump once (makeTemplate) in this checkout's node_modules/.cache,
 * named after the migrations, the code that applies them and the PGlite version it was made
 * from, so a change to any of them makes a new one; the harness loads it (template). A database
 * started from it is the one `openDatabase` would have migrated.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGLITE_EXTENSIONS } from '../../src/db/database';
import type { DB } from '../../src/db/schema';
import { PGlitePool } from '../../src/db/pglite-pool';
import { migrate } from '../../src/db/migrate';

const ROOT = resolve(__dirname, '..', '..');
const MIGRATIONS = join(ROOT, 'src', 'db', 'migrations');
const CACHE = join(ROOT, 'node_modules', '.cache', 'milepost');
const PREFIX = 'pglite-template-';

/** The dump's path: a hash of every migration file, of migrate.ts and of the PGlite version. */
export function templatePath(): string {
  const hash = createHash('sha256');
  hash.update(String(JSON.parse(readFileSync(join(ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')).version));
  hash.update(readFileSync(join(ROOT, 'src', 'db', 'migrate.ts')));
  for (const name of readdirSync(MIGRATIONS).sort()) hash.update(name).update(readFileSync(join(MIGRATIONS, name)));
  return join(CACHE, `${PREFIX}${hash.digest('hex').slice(0, 16)}.tar`);
}

/** Makes the dump when missing (and removes those of other migrations). */
export async function makeTemplate(): Promise<void> {
  const path = templatePath();
  if (existsSync(path)) return;
  mkdirSync(CACHE, { recursive: true });
  // With the extensions openDatabase loads, so the dump's extension objects load with them.
  const pg = new PGlite({ extensions: PGLITE_EXTENSIONS });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: new PGlitePool(pg) }) });
  try {
    await migrate(db);
    const dump = await pg.dumpDataDir('none');
    const partial = `${path}.${process.pid}`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, path);
  } finally {
    await db.destroy();
  }
  for (const name of readdirSync(CACHE)) {
    if (name.startsWith(PREFIX) && name.endsWith('.tar') && join(CACHE, name) !== path) rmSync(join(CACHE, name), { force: true });
  }
}

let loaded: Blob | undefined;

/** The dump, read once per test file (globalSetup made it for a PGlite run). */
export function template(): Blob {
  if (loaded) return loaded;
  const path = templatePath();
  if (!existsSync(path)) throw new Error(`no PGlite template at ${path}: jest's globalSetup (test/support/global-setup.ts) makes it`);
  loaded = new Blob([readFileSync(path)]);
  return loaded;
}
