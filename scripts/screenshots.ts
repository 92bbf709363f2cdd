/**
 * npm run screenshots [-- --members N]
 *
 * Writes a screenshot of each admin console page, and of the GraphQL explorer, to
 * docs/screenshots/. It serves the built console (run `npm run build` first, or let this
 * script build it) from an in-memory database filled by the seeder (N members, default 400,
 * two years of history), with a few rewards, a partner and a webhook added, and drives
 * Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) through playwright-core.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { createApp } from '../src/app';
import { signToken } from '../src/auth/jwt';
import { loadConfig } from '../src/config';
import { CONSOLE_DIR } from '../src/console.http';
import { openDatabase, openOptions } from '../src/db/database';
import { refreshLoyalty } from '../src/insights/insights.service';
import { getProgram } from '../src/program/program.service';
import { seedMembers } from './lib/seeder';

const ROOT = resolve(__dirname, '..');
const OUT = join(ROOT, 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const EXTRAS = [
  ['mutation($input: RewardInput!) { createReward(input: $input) { id } }', { input: { code: 'FREE-COFFEE', name: 'Free coffee', pointsCost: 150, type: 'FREE_PRODUCT', stock: 500, perMemberLimit: 4 } }],
  ['mutation($input: RewardInput!) { createReward(input: $input) { id } }', { input: { code: 'TEN-OFF', name: '10 USD off your next order', pointsCost: 1000, type: 'DISCOUNT' } }],
  ['mutation($input: RewardInput!) { createReward(input: $input) { id } }', { input: { code: 'LOUNGE', name: 'Airport lounge pass', pointsCost: 4000, type: 'PARTNER', stock: 40, minTierRank: 2 } }],
  ['mutation($input: PartnerInput!) { createPartner(input: $input) { clientId } }', { input: { partnerId: 'acme-coffee', name: 'Acme Coffee', earnRate: '2' } }],
  ['mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } } }', { input: { url: 'http://127.0.0.1:9/crm', events: ['*'], description: 'CRM sync' } }],
] as const;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { members: { type: 'string', default: '400' } } });
  if (!existsSync(join(CONSOLE_DIR, 'index.html'))) {
    const built = spawnSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'console/vite.config.mts'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) return 1;
  }
  const config = loadConfig({ ...process.env, NODE_ENV: 'development', DATABASE_URL: 'pglite://memory', LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', JOB_INTERVAL_MS: '0' });
  const database = await openDatabase(config.database, openOptions(config));
  const app = await createApp({ config, database });
  const profile = mkdtempSync(join(tmpdir(), 'milepost-screenshots-'));
  try {
    const program = await getProgram(database.db);
    await seedMembers(database, {
      members: Number(values.members), seed: 7, asOf: new Date(Date.now() - 20 * 86_400_000), config,
      earnRate: program.earn_rate, earnMultiplier: String(program.tiers[0]?.earn_multiplier ?? '1'),
      pointsName: program.points_name, currency: program.currency,
    });
    await refreshLoyalty(database.db, new Date());
    await new Promise<void>((done) => app.httpServer.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(app.httpServer.address() as AddressInfo).port}`;
    const token = signToken(config.jwt, { role: 'ADMIN', sub: 'screenshots', ttlSeconds: 3600 });
    for (const [query, variables] of EXTRAS) {
      const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { errors?: unknown[] };
      if (body.errors) throw new Error(`setting up the screenshots failed: ${JSON.stringify(body.errors)}`);
    }

    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1280, height: 860 } });
    const page = context.pages()[0] ?? await context.newPage();
    mkdirSync(OUT, { recursive: true });
    const shot = async (name: string, path: string, prepare?: (p: Page) => Promise<void>) => {
      await page.goto('about:blank');
      await page.goto(`${base}/admin/#/${path}`);
      await page.locator('main h1').waitFor();
      await page.getByText('Loading…').first().waitFor({ state: 'detached', timeout: 60_000 });
      await prepare?.(page);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
      console.log(`docs/screenshots/${name}.png`);
    };

    await page.goto(`${base}/admin/`);
    await page.getByLabel('ADMIN token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();

    await shot('dashboard', '');
    const atRisk = await page.getByRole('table', { name: 'Members at risk' }).getByRole('link').first().getAttribute('href');
    await shot('members', 'members');
    await shot('member', (atRisk ?? '#/members').replace(/^#\//, ''));
    await shot('rules', 'rules');
    await shot('rule-editor', 'rules/new', async (p) => {
      await p.getByLabel('Name', { exact: true }).fill('Weekend coffee');
      await p.getByLabel('Condition (CEL)').fill('localDay == 0 || localDay = 6');
      await p.getByLabel('Points', { exact: true }).fill('25');
      await p.getByRole('button', { name: 'Create rule' }).click();
      await p.locator('.field-error').first().waitFor();
    });
    await shot('rewards', 'rewards');
    await shot('partners', 'partners');
    await shot('webhooks', 'webhooks');
    await shot('settings', 'settings');

    await page.goto(`${base}/graphql`);
    await page.getByLabel('Token').fill(token);
    await page.locator('.graphiql-query-editor').getByText('pointsName').waitFor();
    await page.getByRole('button', { name: /Execute query/ }).click();
    await page.locator('.graphiql-response').getByText('"pointsName"').waitFor();
    await page.screenshot({ path: join(OUT, 'explorer.png') });
    console.log('docs/screenshots/explorer.png');
    await context.close();
    return 0;
  } finally {
    rmSync(profile, { recursive: true, force: true });
    await app.stop();
    await database.close();
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(`screenshots failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
