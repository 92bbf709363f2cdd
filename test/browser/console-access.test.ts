/**
 * The console without a mouse, and for assistive technology: every form control has a label on
 * every page, the main flows work from the keyboard alone, and the layout holds on a tablet.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../support/harness';
import { BROWSER_START_MS, openBrowser, openPage, type TestBrowser } from '../support/browser';

const ENROL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { id } }`;

let t: TestApp;
let b: TestBrowser;
let memberId: string;
let memberName: string;

beforeAll(async () => {
  t = await startTestApp();
  b = await openBrowser(t.baseUrl);
  memberName = `Hopper ${randomUUID().slice(0, 6)}`;
  const enrolled = await t.gql<{ enrollMember: { id: string } }>(ENROL, { input: { externalId: `kb-${randomUUID()}`, name: memberName } });
  memberId = enrolled.data!.enrollMember.id;
  await t.gql(EARN, { input: { memberId, points: 300, reason: 'Welcome', idempotencyKey: randomUUID() } });
}, BROWSER_START_MS);
afterAll(async () => {
  await b?.close();
  await t?.close();
});

// What these checks read runs inside the page, so it is written as the page's own JavaScript
// (this project's TypeScript has no DOM types).

/** Form controls on the page that no label, aria-label or aria-labelledby names. */
function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden')
    .filter((el) => !(el.labels?.length > 0 || el.getAttribute('aria-label')?.trim() || el.getAttribute('aria-labelledby')))
    .map((el) => el.outerHTML.slice(0, 120))`);
}

/** Buttons and links with no text a screen reader could say. */
function nameless(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('button, a[href]')]
    .filter((el) => !(el.textContent?.trim() || el.getAttribute('aria-label')?.trim()))
    .map((el) => el.outerHTML.slice(0, 120))`);
}

/** What a screen reader would call the focused element, near enough: its label, aria-label or text. */
function focusedName(page: Page): Promise<string> {
  return page.evaluate(`(() => {
    const el = document.activeElement;
    if (!el) return '';
    const label = el.labels?.[0]?.textContent ?? '';
    const text = el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' ? '' : el.textContent ?? '';
    return [el.getAttribute('aria-label') ?? '', label, text].join(' ').trim();
  })()`);
}

/** Presses Tab until the focused element's name matches `name`; fails after `limit` presses. */
async function tabTo(page: Page, name: RegExp, limit = 60): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if (name.test(await focusedName(page))) return;
  }
  throw new Error(`Tab never reached ${name}`);
}

test('every form control on every page has a label, and every button and link a name', async () => {
  const { page } = b;
  const pages = ['', 'members', `members/${memberId}`, 'rules', 'rules/new', 'rewards', 'partners', 'webhooks', 'settings'];
  for (const path of pages) {
    await openPage(page, t.baseUrl, t.admin, path);
    await page.locator('main h1').waitFor();
    await page.getByText('Loading…').first().waitFor({ state: 'detached' });
    if (path === 'rewards') await page.getByRole('button', { name: 'New reward' }).click();
    expect({ path, unlabelled: await unlabelled(page) }).toEqual({ path, unlabelled: [] });
    expect({ path, nameless: await nameless(page) }).toEqual({ path, nameless: [] });
  }
});

test('signing in, finding a member and adjusting points work from the keyboard alone', async () => {
  const { page } = b;
  await page.goto('about:blank');
  await page.goto(`${t.baseUrl}/admin/`);
  await page.evaluate('sessionStorage.clear()');
  await page.reload();
  // The sign-in form is on the page before the console has finished starting: keys typed then are lost.
  await page.waitForLoadState('networkidle');
  await tabTo(page, /ADMIN token/);
  await page.keyboard.type(t.admin);
  await page.keyboard.press('Enter');
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();

  await tabTo(page, /^Members$/);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Members', level: 1 }).waitFor();
  await tabTo(page, /Search members/);
  await page.keyboard.type(memberName);
  await page.keyboard.press('Enter');
  await page.getByText(`1 member matching “${memberName}”`).waitFor();
  await tabTo(page, new RegExp(memberName));
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/members/${memberId}$`));
  // A new page puts focus on its heading once it has drawn, so the next Tab starts at the top of its content.
  await page.waitForFunction("document.activeElement?.tagName === 'H1'");

  await tabTo(page, /Points \(negative to deduct\)/);
  await page.keyboard.type('-40');
  await tabTo(page, /Reason for the adjustment/, 3);
  await page.keyboard.type('Keyboard correction');
  await page.keyboard.press('Enter');
  await page.getByRole('table', { name: 'Statement' }).getByRole('cell', { name: 'Keyboard correction' }).waitFor();
  await page.locator('.figure', { hasText: 'Available' }).getByText('260').waitFor();
});

test('a rule is created from the keyboard alone, through its field error', async () => {
  const { page } = b;
  await openPage(page, t.baseUrl, t.admin, 'rules');
  await tabTo(page, /^New rule$/);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'New earning rule' }).waitFor();
  await tabTo(page, /^Name$/);
  await page.keyboard.type('Weekend visits');
  await tabTo(page, /Condition \(CEL\)/, 3);
  await page.keyboard.type('localDay ==');
  await tabTo(page, /^Points$/);
  await page.keyboard.type('20');
  await tabTo(page, /^Create rule$/);
  await page.keyboard.press('Enter');
  const condition = page.getByLabel('Condition (CEL)');
  await page.locator('.field', { has: condition }).getByRole('alert').waitFor();
  await condition.focus();
  await page.keyboard.type(' 0 || localDay == 6');
  await tabTo(page, /^Create rule$/);
  await page.keyboard.press('Enter');
  await page.getByRole('table', { name: 'Earning rules' }).getByRole('row', { name: /Weekend visits/ }).waitFor();
});

test('on a tablet the sections sit above the page and nothing runs off the side', async () => {
  const { page } = b;
  await page.setViewportSize({ width: 768, height: 1024 });
  try {
    for (const path of ['', `members/${memberId}`, 'rules/new', 'settings']) {
      await openPage(page, t.baseUrl, t.admin, path);
      await page.getByText('Loading…').first().waitFor({ state: 'detached' });
      const nav = await page.getByRole('navigation', { name: 'Sections' }).boundingBox();
      const main = await page.locator('main').boundingBox();
      expect(nav!.y + nav!.height).toBeLessThanOrEqual(main!.y + 1);
      const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect({ path, overflow }).toEqual({ path, overflow: 0 });
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
});

test('no page logged an error or asked any host but the API for anything', () => {
  expect(b.consoleErrors).toEqual([]);
  expect(b.foreignRequests).toEqual([]);
});
