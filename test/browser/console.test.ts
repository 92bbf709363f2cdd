/**
 * The admin console in a real browser against the real API: sign in, find a member, adjust
 * points and see the statement change, create a rule through a field error, create a reward and
 * see its stock fall after a redemption through the API. Nothing in the page may log an error or
 * ask any host but the API for anything.
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../support/harness';
import { BROWSER_START_MS, openBrowser, openPage, signIn, type TestBrowser } from '../support/browser';

const ENROL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned } }`;
const REWARD_BY_CODE = `query { rewards(first: 100) { edges { node { id code remaining } } } }`;
const SURVEY = `mutation($input: SurveyResponseInput!) { submitSurveyResponse(input: $input) { id } }`;
const COMPLAINT = `mutation($input: ComplaintInput!) { fileComplaint(input: $input) { id } }`;
const MAINTENANCE = `mutation { runMaintenance { loyaltyRefreshed } }`;
const REDEEM_REWARD = `mutation($input: RedeemRewardInput!) { redeemReward(input: $input) { voucherCode reward { remaining } } }`;

let t: TestApp;
let b: TestBrowser;

const DAY = 86_400_000;

/** A new member with one purchase of `amount` for each of `daysAgo` (today by default). */
async function enrolWithPurchase(name: string, amount: string, daysAgo: number[] = [0]): Promise<string> {
  const externalId = `${name.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  const enrolled = await t.gql<{ enrollMember: { id: string } }>(ENROL, { input: { externalId, name, email: `${externalId}@example.com` } });
  const id = enrolled.data!.enrollMember.id;
  for (const days of daysAgo) {
    const occurredAt = new Date(Date.now() - days * DAY).toISOString();
    const bought = await t.gql(PURCHASE, { input: { memberId: id, orderId: `o-${randomUUID()}`, amount, currency: 'USD', occurredAt } });
    expect(bought.errors).toBeUndefined();
  }
  return id;
}

beforeAll(async () => {
  t = await startTestApp();
  b = await openBrowser(t.baseUrl);
}, BROWSER_START_MS);
afterAll(async () => {
  await b?.close();
  await t?.close();
});

test('a token of the wrong role, or expired, is refused with a message saying so', async () => {
  const { page } = b;
  await page.goto(`${t.baseUrl}/admin/`);
  const partner = await t.partnerToken('console-partner');
  await page.getByLabel('ADMIN token').fill(partner);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('This is a PARTNER token: the console needs an ADMIN token').waitFor();
  const expired = t.token({ role: 'ADMIN', sub: 'console-admin', ttlSeconds: -60 });
  await page.getByLabel('ADMIN token').fill(expired);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Your token has expired').waitFor();
});

test('a token that expires while the console is open sends the user back to sign in, saying why', async () => {
  const { page } = b;
  await signIn(page, t.baseUrl, t.token({ role: 'ADMIN', sub: 'console-admin', ttlSeconds: 4 }));
  // The dashboard's requests are answered before the token runs out, so the next one is the first to find it expired.
  await page.getByLabel('Key figures').waitFor();
  await page.getByText('Loading…').first().waitFor({ state: 'detached' });
  await page.waitForTimeout(4_000);
  await page.getByRole('link', { name: 'Earning rules' }).click();
  await page.getByText('Your token has expired').waitFor();
  await page.getByLabel('ADMIN token').waitFor();
});

test('signing in with a bare ADMIN token or with its Bearer prefix opens the console', async () => {
  await signIn(b.page, t.baseUrl, `Bearer ${t.admin}`);
  await b.page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(b.page, t.baseUrl, t.admin);
  await b.page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
});

test('the dashboard shows the programme figures and the members at risk; a complaint is resolved with goodwill points', async () => {
  const { page } = b;
  // Two purchases 20 days apart, the last 150 days ago: far past three of their gaps, so HIGH risk.
  const linus = await enrolWithPurchase('Linus', '480.00', [170, 150]);
  const other = await enrolWithPurchase('Margaret', '35.00');
  for (const [memberId, score] of [[linus, 3], [other, 10], [other, 9]] as const) {
    expect((await t.gql(SURVEY, { input: { memberId, score, idempotencyKey: randomUUID() } })).errors).toBeUndefined();
  }
  expect((await t.gql(COMPLAINT, { input: { memberId: linus, category: 'delivery', description: 'Parcel arrived broken', idempotencyKey: randomUUID() } })).errors).toBeUndefined();
  expect((await t.gql(MAINTENANCE)).errors).toBeUndefined();

  const monthlyAnswer = page.waitForResponse((r) => r.url().endsWith('/graphql') && /ConsoleMonthlyPoints/.test(r.request().postData() ?? ''));
  await openPage(page, t.baseUrl, t.admin, '');
  const figures = page.getByLabel('Key figures');
  // Latest answers: Linus 3 (detractor), Margaret 9 (promoter): NPS 0 over 2 responses.
  await figures.locator('.figure', { hasText: 'NPS' }).getByText('2 responses').waitFor();
  expect(await figures.locator('.figure', { hasText: 'NPS' }).locator('.figure-value').textContent()).toBe('0');
  // Points by month: every month the page's range touches (the programme's time zone is UTC), as the API counts them.
  const monthlyResponse = await monthlyAnswer;
  const asked = JSON.parse(monthlyResponse.request().postData() ?? '{}').variables as { from: string; to: string };
  const months = (await monthlyResponse.json()).data.programInsights.pointsByMonth as { month: string; issued: number; redeemed: number }[];
  const fromApi = await t.gql<{ programInsights: { pointsByMonth: unknown[] } }>(`query($from: DateTime!, $to: DateTime!) { programInsights(from: $from, to: $to) {
    pointsByMonth { month issued redeemed expired outstanding } } }`, { from: asked.from, to: asked.to });
  expect(fromApi.errors).toBeUndefined();
  expect(months).toEqual(fromApi.data!.programInsights.pointsByMonth);
  const touched: string[] = [];
  for (let m = new Date(`${asked.from.slice(0, 7)}-01T00:00:00Z`); m.getTime() < new Date(asked.to).getTime(); m.setUTCMonth(m.getUTCMonth() + 1)) {
    touched.push(m.toISOString().slice(0, 7));
  }
  expect(months.map((m) => m.month)).toEqual(touched);
  // The ledger dates points when they are recorded: this month, whatever the purchases' own dates.
  expect(months.at(-1)!.issued).toBeGreaterThanOrEqual(480 + 480 + 35);
  const monthlyChart = page.getByRole('img', { name: /^Points by month: / });
  await monthlyChart.waitFor();
  expect(await monthlyChart.getAttribute('aria-label')).toBe(`Points by month: ${months.map((m) => `${m.month} issued ${m.issued}, redeemed ${m.redeemed}`).join('; ')}`);
  expect(await page.locator('canvas[role="img"]').count()).toBe(6);
  // The 365 days up to now by default; chosen days count the same answers.
  const chosenDays = page.waitForResponse((r) => r.url().endsWith('/graphql') && /ConsoleInsights/.test(r.request().postData() ?? '') && /T00:00:00Z/.test(r.request().postData() ?? ''));
  await page.getByLabel('Period').selectOption('days');
  await page.getByLabel('From (UTC day)').waitFor();
  expect((await chosenDays).status()).toBe(200);
  await figures.locator('.figure', { hasText: 'NPS' }).getByText('2 responses').waitFor();
  const atRisk = page.getByRole('table', { name: 'Members at risk' });
  await atRisk.getByRole('link', { name: 'Linus' }).click();
  await page.waitForURL(new RegExp(`#/members/${linus}$`));

  const profile = page.getByRole('region', { name: 'Loyalty profile' });
  await profile.getByText('High', { exact: true }).waitFor();
  const resolve = page.getByRole('form', { name: 'Resolve the delivery complaint' });
  await resolve.getByLabel('Resolution').fill('Replacement sent');
  await resolve.getByLabel('Goodwill points').fill('120');
  await resolve.getByRole('button', { name: 'Resolve' }).click();
  await page.getByRole('region', { name: 'Complaints' }).getByText('Replacement sent · 120 goodwill points').waitFor();
  await page.getByRole('table', { name: 'Statement' }).getByRole('cell', { name: '+120' }).waitFor();
});

test('find a member, adjust points, and see the statement and balance change', async () => {
  const { page } = b;
  const id = await enrolWithPurchase('Ada', '129.90');
  await openPage(page, t.baseUrl, t.admin, '');
  await page.getByRole('link', { name: 'Members' }).click();
  await page.getByLabel('Search members').fill('Ada');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: 'Ada' }).first().click();
  await page.waitForURL(new RegExp(`#/members/${id}$`));
  const statement = page.getByRole('table', { name: 'Statement' });
  await statement.getByRole('row').nth(1).waitFor();
  expect(await statement.getByRole('row').count()).toBe(2);

  await page.getByLabel('Points (negative to deduct)').fill('250');
  await page.getByLabel('Reason for the adjustment').fill('Goodwill for a late delivery');
  await page.getByRole('button', { name: 'Adjust' }).click();
  await page.getByText('Adjusted by 250 points.').waitFor();
  await statement.getByRole('cell', { name: 'Goodwill for a late delivery' }).waitFor();
  expect(await statement.getByRole('row').count()).toBe(3);
  await page.locator('.figure', { hasText: 'Available' }).getByText('379').waitFor();
});

test('a rule with a bad condition shows the error at the field; a good one is saved and listed', async () => {
  const { page } = b;
  await openPage(page, t.baseUrl, t.admin, 'rules');
  await page.getByRole('link', { name: 'New rule' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Big baskets');
  await page.getByLabel('Condition (CEL)').fill('purchase.amount >');
  await page.getByLabel('Points', { exact: true }).fill('50');
  await page.getByRole('button', { name: 'Create rule' }).click();
  const condition = page.getByLabel('Condition (CEL)');
  await page.locator('.field', { has: condition }).getByRole('alert').getByText('not a valid CEL condition').waitFor();
  expect(await condition.getAttribute('aria-invalid')).toBe('true');

  await condition.fill('purchase.amount >= 100.0');
  await page.getByRole('button', { name: 'Simulate' }).click();
  await page.getByRole('status', { name: 'Simulation result' }).waitFor();
  await page.getByRole('button', { name: 'Create rule' }).click();
  await page.waitForURL(/#\/rules$/);
  const row = page.getByRole('table', { name: 'Earning rules' }).getByRole('row', { name: /Big baskets/ });
  await row.getByText('purchase.amount >= 100.0').waitFor();
  await row.getByText('50 points').waitFor();
});

test('a reward created in the console shows its stock fall after a redemption through the API', async () => {
  const { page } = b;
  const code = `MUG-${randomUUID().slice(0, 6).toUpperCase()}`;
  await openPage(page, t.baseUrl, t.admin, 'rewards');
  await page.getByRole('button', { name: 'New reward' }).click();
  await page.getByLabel('Code', { exact: true }).fill(code);
  await page.getByLabel('Name', { exact: true }).fill('Travel mug');
  await page.getByLabel('Cost in points').fill('100');
  await page.getByLabel('Stock (empty: unlimited)').fill('5');
  await page.getByRole('button', { name: 'Create reward' }).click();
  const row = page.getByRole('table', { name: 'Rewards' }).getByRole('row', { name: new RegExp(code) });
  await row.getByText('5 of 5').waitFor();

  const member = await enrolWithPurchase('Grace', '150.00');
  const rewards = await t.gql<{ rewards: { edges: { node: { id: string; code: string } }[] } }>(REWARD_BY_CODE);
  const reward = rewards.data!.rewards.edges.find((e) => e.node.code === code)!.node;
  const redeemed = await t.gql(REDEEM_REWARD, { input: { memberId: member, rewardId: reward.id, idempotencyKey: randomUUID() } });
  expect(redeemed.data?.redeemReward.reward.remaining).toBe(4);

  await page.reload();
  await page.getByRole('table', { name: 'Rewards' }).getByRole('row', { name: new RegExp(code) }).getByText('4 of 5').waitFor();
});

test('a partner registered in the console shows its secret once, and its settlement downloads as CSV', async () => {
  const { page } = b;
  const partnerId = `shop-${randomUUID().slice(0, 6)}`;
  await openPage(page, t.baseUrl, t.admin, 'partners');
  await page.getByLabel('Partner id').fill(partnerId);
  await page.getByLabel('Name', { exact: true }).fill('Corner shop');
  await page.getByRole('button', { name: 'Register' }).click();
  const secret = page.getByRole('alert').filter({ hasText: 'shown this once' });
  await secret.locator('.secret-value').waitFor();
  expect((await secret.locator('.secret-value').textContent())!.length).toBeGreaterThan(20);
  await secret.getByRole('button', { name: 'I have copied it' }).click();
  await secret.waitFor({ state: 'detached' });

  await page.getByLabel('Partner', { exact: true }).selectOption(partnerId);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^settlement-${partnerId}-.*\\.csv$`));
  const csv = await new Promise<string>((done, fail) => {
    download.createReadStream().then((stream) => {
      let text = '';
      stream.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
      stream.on('end', () => done(text));
      stream.on('error', fail);
    }, fail);
  });
  expect(csv.split('\n')[0]).toMatch(/^partnerId,from,to,pointsIssued/);
  expect(csv.split('\n')[1]).toMatch(new RegExp(`^${partnerId},`));
});

test('no page logged an error or asked any host but the API for anything', () => {
  expect(b.consoleErrors).toEqual([]);
  expect(b.foreignRequests).toEqual([]);
});
