import { startTestApp, type TestApp } from '../support/harness';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('explorer enabled (development)', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp({ GRAPHQL_EXPLORER: 'true' }); });
  afterAll(async () => { await t.close(); });

  test('a browser GET /graphql receives a self-contained explorer page', async () => {
    const res = await t.request().get('/graphql').set('accept', BROWSER_ACCEPT);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('<textarea id="query"');
    expect(res.text).toContain('id="token"');
    expect(res.text).toContain('localStorage');
    // Nothing is loaded from elsewhere: no external scripts, styles, fonts or images.
    expect(res.text).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(res.text).not.toMatch(/@import|url\(/i);
  });

  test('the page script is valid JavaScript and the examples are valid operations', async () => {
    const res = await t.request().get('/graphql').set('accept', BROWSER_ACCEPT);
    const script = /<script>([\s\S]*)<\/script>/.exec(res.text)![1]!;
    expect(() => new Function(script)).not.toThrow();
    const examples = JSON.parse(/<script type="application\/json" id="examples">([\s\S]*?)<\/script>/.exec(res.text)![1]!);
    expect(examples.length).toBeGreaterThan(3);
    for (const example of examples as { query: string }[]) {
      const run = await t.gql(example.query, {});
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
});

test('with the explorer disabled (the production default) no page is served', async () => {
  const t = await startTestApp({ GRAPHQL_EXPLORER: 'false' });
  try {
    const res = await t.request().get('/graphql').set('accept', BROWSER_ACCEPT);
    expect(res.headers['content-type'] ?? '').not.toMatch(/^text\/html/);
    expect(res.text).not.toContain('<textarea');
  } finally {
    await t.close();
  }
});
