import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import supertest from 'supertest';
import { loadConfig, type Config } from '../../src/config';
import { openDatabase, openOptions, type Database } from '../../src/db/database';
import { createApp, type App, type AppDeps } from '../../src/app';
import { template } from './pglite-template';
import { signToken, type SignOptions } from '../../src/auth/jwt';

export interface GqlResponse<T = Record<string, any>> {
  status: number;
  data: T | null | undefined;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; [k: string]: unknown } }[];
  body: any;
}

const CREATE_PARTNER = 'mutation($input: PartnerInput!) { createPartner(input: $input) { clientId } }';

export interface TestApp {
  app: App;
  config: Config;
  database: Database;
  baseUrl: string;
  request: () => supertest.Agent;
  token(options: SignOptions): string;
  /**
   * A PARTNER token for `partnerId`, registered first (createPartner) when this app has not
   * registered it yet: the API refuses tokens of unregistered partners.
   */
  partnerToken(partnerId: string, extra?: Omit<SignOptions, 'role' | 'partnerId'>): Promise<string>;
  admin: string;
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GqlResponse<T>>;
  close(): Promise<void>;
}

/**
 * Starts the real app on an ephemeral port over a fresh database: an in-memory PGlite (started
 * from the migrated template, pglite-template.ts), or a private schema on TEST_DATABASE_URL
 * (dropped on close), so tests never see each other's rows.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  deps: Partial<Pick<AppDeps, 'clock' | 'logger'>> = {},
): Promise<TestApp> {
  const serverUrl = process.env.TEST_DATABASE_URL || undefined; // set but empty: PGlite, as unset
  const schema = serverUrl ? `test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}` : undefined;
  const config = loadConfig({
    NODE_ENV: 'test',
    TEST_CLOCK_ENABLED: 'true',
    DATABASE_URL: serverUrl ?? 'pglite://memory',
    // Tests fire hundreds of requests from one token; the limiter has its own test.
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  const database = closeOnce(await openDatabase(config.database, { ...openOptions(config), schema, poolSize: 20, template: config.database.kind === 'pglite' ? template() : undefined }));
  const app = await createApp({ config, database, ...deps });
  await new Promise<void>((resolve) => app.httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = app.httpServer.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const token = (options: SignOptions) => signToken(config.jwt, options);
  // With only JWT_PUBLIC_KEY (RS256) there is no secret to sign with; such tests sign their own.
  const admin = config.jwt.secret ? token({ role: 'ADMIN', sub: 'test-admin' }) : '';
  const gql: TestApp['gql'] = async (query, variables = {}, bearer = admin) => {
    let req = supertest(baseUrl).post('/graphql').set('content-type', 'application/json');
    if (bearer) req = req.set('authorization', `Bearer ${bearer}`);
    const res = await req.send({ query, variables });
    return { status: res.status, data: res.body?.data, errors: res.body?.errors, body: res.body };
  };
  const registered = new Set<string>();
  return {
    app, config, database, baseUrl, token, admin, gql,
    request: () => supertest.agent(baseUrl),
    async partnerToken(partnerId, extra = {}) {
      if (!registered.has(partnerId)) {
        const res = await gql(CREATE_PARTNER, { input: { partnerId, name: `Partner ${partnerId}` } });
        const already = res.errors?.length === 1 && /already registered/.test(res.errors[0]!.message);
        if (res.errors?.length && !already) throw new Error(`registering partner ${partnerId} failed: ${JSON.stringify(res.errors)}`);
        registered.add(partnerId);
      }
      return token({ ...extra, role: 'PARTNER', partnerId });
    },
    async close() {
      await app.stop();
      await database.close();
      if (serverUrl && schema) {
        const pool = new Pool({ connectionString: serverUrl, max: 1 });
        await pool.query(`drop schema if exists "${schema}" cascade`);
        await pool.end();
      }
    },
  };
}

// A test may close the database itself (to see /readyz fail); close() must then not do it twice.
function closeOnce(database: Database): Database {
  let closing: Promise<void> | undefined;
  return { ...database, close: () => (closing ??= database.close()) };
}

/** The codes of a response's errors, for assertions. */
export function codes(res: GqlResponse): string[] {
  return (res.errors ?? []).map((e) => String(e.extensions?.code));
}
