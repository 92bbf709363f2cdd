/**
 * The developer explorer at GET /graphql in a real browser: GraphiQL from the package (no CDN),
 * with schema docs, taking the raw output of `npm run token` or a "Bearer …" paste alike.
 */
import { startTestApp, type TestApp } from '../support/harness';
import { BROWSER_START_MS, openBrowser, type TestBrowser } from '../support/browser';

let t: TestApp;
let b: TestBrowser;

beforeAll(async () => {
  t = await startTestApp({ GRAPHQL_EXPLORER: 'true' });
  b = await openBrowser(t.baseUrl);
}, BROWSER_START_MS);
afterAll(async () => {
  await b?.close();
  await t?.close();
});

test('a pasted token runs the opening query, with or without the Bearer prefix', async () => {
  const { page } = b;
  await page.goto(`${t.baseUrl}/graphql`);
  const response = page.locator('.graphiql-response');
  // The editors load after the page: a click before them runs nothing.
  await page.locator('.graphiql-query-editor').getByText('pointsName').waitFor();
  const run = async (pasted: string, expected: string) => {
    await page.getByLabel('Token').fill(pasted);
    await page.getByRole('button', { name: /Execute query/ }).click();
    await response.getByText(expected).waitFor();
  };
  await run(t.admin, '"pointsName"');
  // A refused token in between, so the next answer is known to be new.
  await run('not-a-token', 'UNAUTHENTICATED');
  await run(`Bearer ${t.admin}`, '"pointsName"');
  expect(await response.textContent()).not.toContain('UNAUTHENTICATED');
});

test('the documentation explorer lists the schema', async () => {
  const { page } = b;
  await page.getByRole('button', { name: /Show Documentation Explorer/ }).click();
  await page.getByText('Root Types').waitFor();
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).click();
  await page.locator('.graphiql-doc-explorer').getByRole('link', { name: 'programInsights', exact: true }).waitFor();
});

test('nothing logged an error or asked any host but the API for anything', () => {
  // The refused token above is the one error answer expected.
  expect(b.consoleErrors.filter((e) => !/^HTTP 401 .*UNAUTHENTICATED|status of 401/.test(e))).toEqual([]);
  expect(b.foreignRequests).toEqual([]);
});
