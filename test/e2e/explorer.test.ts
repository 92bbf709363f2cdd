import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../support/harness';
import { CONSOLE_DIR } from '../../src/console.http';
import { EXAMPLES } from '../../console/src/explorer-examples';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** The scripts and stylesheets a built page names. */
function assetsOf(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((url) => !url.startsWith('data:'));
}

describe('explorer enabled (development)', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp({ GRAPHQL_EXPLORER: 'true' }); });
  afterAll(async () => { await t.close(); });

  test('a browser GET /graphql receives GraphiQL, built into the package and loading nothing from elsewhere', async () => {
    const res = await t.request().get('/graphql').set('accept', BROWSER_ACCEPT);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(res.text).toContain('<div id="explorer">');
    expect(res.text).toBe(readFileSync(join(CONSOLE_DIR, 'graphiql.html'), 'utf8'));
    const assets = assetsOf(res.text);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect(asset).toMatch(/^\/admin\/assets\//);
      const loaded = await t.request().get(asset);
      expect(loaded.status).toBe(200);
      expect(loaded.headers['content-type']).toMatch(/javascript|css/);
      expect(loaded.headers['cache-control']).toContain('immutable');
    }
  });

  test('the tabs it opens with are valid operations', async () => {
    expect(EXAMPLES.length).toBeGreaterThan(3);
    for (const example of EXAMPLES) {
      const run = await t.gql(example.query, example.variables ? JSON.parse(example.variables) : {});
      // Variables are placeholders, so only parse/validation failures would mean a broken example.
      const codes = (run.errors ?? []).map((e) => e.extensions?.code);
      expect(run.body.errors?.some((e: { message: string }) => /Cannot query field|Syntax Error|Unknown type/.test(e.message)) ?? false).toBe(false);
      expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
    }
  });

  test('GET /graphql with a query still executes it', async () => {
    const res = await t.request().get('/graphql').query({ query: '{ now }' })
      .set('accept', 'application/graphql-response+json').set('authorization', `Bearer ${t.admin}`);
    expect(res.status).toBe(200);
    expect(typeof JSON.parse(res.text).data.now).toBe('string');
  });

  test('the admin console is served at /admin/, with /admin sent there', async () => {
    const page = await t.request().get('/admin/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.text).toContain('<div id="root">');
    for (const asset of assetsOf(page.text)) expect((await t.request().get(asset)).status).toBe(200);
    const bare = await t.request().get('/admin');
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('/admin/');
    expect((await t.request().get('/admin/assets/nothing-here.js')).status).toBe(404);
  });
});

test('with the explorer disabled (the production default) no page is served at /graphql', async () => {
  const t = await startTestApp({ GRAPHQL_EXPLORER: 'false' });
  try {
    const res = await t.request().get('/graphql').set('accept', BROWSER_ACCEPT);
    expect(res.headers['content-type'] ?? '').not.toMatch(/^text\/html/);
    expect(res.text).not.toContain('id="explorer"');
  } finally {
    await t.close();
  }
});
