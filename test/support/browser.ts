/**
 * Chromium for the console's browser tests: Debian's /usr/bin/chromium driven by playwright-core
 * (no browser is ever downloaded), one per test file, in a fresh profile. It records every
 * console error and every request to a host other than the API's, for the tests to assert none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** How long a file's beforeAll may take to start the app and Chromium: both are slow on a busy machine. */
export const BROWSER_START_MS = 120_000;

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught page errors and HTTP error answers, as text. */
  consoleErrors: string[];
  /** URLs the page asked for on any host but the API's. */
  foreignRequests: string[];
  close(): Promise<void>;
}

export async function openBrowser(apiBaseUrl: string, viewport = { width: 1280, height: 900 }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'milepost-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(10_000);
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];
  const api = new URL(apiBaseUrl);
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  // Chromium logs a failed response as a bare "Failed to load resource"; its body says why.
  page.on('response', async (response) => {
    if (response.status() < 400) return;
    const body = await response.text().catch(() => '');
    consoleErrors.push(`HTTP ${response.status()} from ${response.url()}: ${body.slice(0, 300)}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  context.on('request', (request) => {
    const url = new URL(request.url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.host !== api.host) foreignRequests.push(request.url());
  });
  return {
    page, context, consoleErrors, foreignRequests,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in to the console at /admin/ with a pasted token, and waits for the dashboard. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/admin/`);
  await page.getByLabel('ADMIN token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
}

/**
 * Opens a console page (#/<path>) freshly loaded, signing in first when this tab holds no token
 * yet (the token stays in the tab's sessionStorage across loads).
 */
export async function openPage(page: Page, baseUrl: string, token: string, path: string): Promise<void> {
  // Going to the same address with only a new #… would keep what the page had already loaded.
  await page.goto('about:blank');
  await page.goto(`${baseUrl}/admin/#/${path}`);
  const signInForm = page.getByLabel('ADMIN token');
  const nav = page.getByRole('navigation', { name: 'Sections' });
  await signInForm.or(nav).first().waitFor();
  if (await signInForm.isVisible()) {
    await signInForm.fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await nav.waitFor();
  }
}
