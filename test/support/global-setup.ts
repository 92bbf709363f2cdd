/**
 * jest globalSetup: what every test file needs made once before any runs: the admin console's
 * build (console-build.ts) and, on PGlite, the migrated database every test app starts from
 * (pglite-template.ts).
 */
import buildConsole from './console-build';
import { makeTemplate } from './pglite-template';

export default async function globalSetup(): Promise<void> {
  buildConsole();
  if (!process.env.TEST_DATABASE_URL) await makeTemplate();
}
