/**
 * The benchmark's workload, shared by bench.ts and bench-profile.ts: the operations measured
 * (each request built on the fly: a random member, a unique orderId or idempotency key), the
 * members they pick from, the callers' tokens, and the database they run on, created and seeded
 * when short of members.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { Pool } from 'pg';
import { signToken } from '../../src/auth/jwt';
import type { OpFigures, Operation } from './bench-load';

const ROOT = resolve(__dirname, '..', '..');

/** The bench's own database: seeded afresh for every run of bench.ts unless --keep-data. */
export const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/milepost_bench';

const BALANCE = 'query Balance($id: ID!) { member(id: $id) { balance { available } } }';
const STATEMENT = 'query Statement($id: ID!) { member(id: $id) { transactions(first: 20) { edges { node { id points type } } } } }';
const PURCHASE = 'mutation Purchase($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned } }';
const QUOTE = 'query Quote($input: RecordPurchaseInput!) { quoteEarn(input: $input) { points } }';
const ACTIVE_RULES = '{ earningRules(activeOnly: true) { id } }';
const SET_RULE_ACTIVE = 'mutation Switch($id: ID!, $active: Boolean!) { setEarningRuleActive(id: $id, active: $active) { id } }';
const CATEGORIES = ['apparel', 'shoes', 'electronics', 'home', 'beauty'];
const CHANNELS = ['web', 'app', 'store'];
const REDEEM = 'mutation Redeem($input: RedeemPointsInput!) { redeemPoints(input: $input) { id points } }';
const CREATE_REWARD = 'mutation Reward($input: RewardInput!) { createReward(input: $input) { id } }';
const REDEEM_REWARD = 'mutation RedeemReward($input: RedeemRewardInput!) { redeemReward(input: $input) { id voucherCode } }';
const CREATE_WEBHOOK = 'mutation Hook($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } } }';
const SET_WEBHOOK = 'mutation HookActive($id: ID!, $active: Boolean!) { setWebhookActive(id: $id, active: $active) { id } }';
const PENDING_DELIVERIES = 'query Pending($id: ID!) { webhookDeliveries(webhookId: $id, status: PENDING, first: 1) { totalCount } }';

/**
 * Where a run writes its figures and chart. `--out` wins; otherwise a `--compare REF` run writes
 * bench-results/compare-REF.json (and .svg), so a before/after never overwrites latest.json, the
 * figures the documents quote. The chart beside latest.json is chart.svg, the one they show.
 */
export function resultFiles(resultsDir: string, out: string | undefined, compareRef: string | undefined): { json: string; chart: string } {
  const json = out ?? join(resultsDir, compareRef ? `compare-${compareRef.replace(/[^A-Za-z0-9._-]+/g, '_')}.json` : 'latest.json');
  const chart = basename(json) === 'latest.json' ? join(dirname(json), 'chart.svg') : json.replace(/(\.json)?$/, '.svg');
  return { json, chart };
}

export interface Sample { all: string[]; redeemable: string[] }

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Creates the database when missing and seeds it up to `members` (the seeder resumes). With
 * `fresh`, an existing database is dropped first, so every run starts from the seeded state:
 * the writes of earlier runs otherwise move members up the ladder and change what is measured.
 */
export async function prepareDatabase(url: string, members: number, seed: number, { fresh = false } = {}): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new Pool({ connectionString: withDatabase(url, 'postgres'), max: 1 });
  try {
    if (fresh) {
      console.log(`dropping database ${name} to start from the seeded state`);
      await admin.query(`drop database if exists "${name.replace(/"/g, '""')}" with (force)`);
    }
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) {
      console.log(`creating database ${name}`);
      await admin.query(`create database "${name.replace(/"/g, '""')}"`);
    }
  } finally {
    await admin.end();
  }
  const pool = new Pool({ connectionString: url, max: 1 });
  let have = 0;
  try {
    const r = await pool.query<{ n: number }>(`select count(*)::int as n from members`);
    have = r.rows[0]?.n ?? 0;
  } catch {
    have = 0; // not migrated yet: the seeder migrates
  } finally {
    await pool.end();
  }
  if (have >= members) return;
  console.log(`${name} has ${have} members; seeding to ${members}`);
  const run = spawnSync('npm', ['run', 'seed', '--silent', '--', '--members', String(members), '--seed', String(seed)], {
    cwd: ROOT, stdio: 'inherit', env: { ...process.env, DATABASE_URL: url },
  });
  if (run.status !== 0) throw new Error('seeding failed');
}

/** Random active members; `redeemable` ones hold enough points for many small redemptions. */
export async function sampleMembers(url: string, size: number): Promise<Sample> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    const all = await pool.query<{ id: string }>(
      `select id from members where status = 'ACTIVE' order by md5(id::text || 'bench') limit $1`, [size]);
    const redeemable = await pool.query<{ id: string }>(
      `select l.member_id as id from point_lots l join members m on m.id = l.member_id
       where l.remaining > 0 and m.status = 'ACTIVE' and m.debt = 0 and l.member_id = any($1::uuid[])
       group by l.member_id having sum(l.remaining) >= 200`, [all.rows.map((r) => r.id)]);
    return { all: all.rows.map((r) => r.id), redeemable: redeemable.rows.map((r) => r.id) };
  } finally {
    await pool.end();
  }
}

/** PostgreSQL settings that move the write figures, as the server reports them. */
const SETTINGS = ['autovacuum', 'fsync', 'synchronous_commit', 'shared_buffers', 'max_wal_size', 'max_connections'];

/** The server's version and the settings a reader needs to compare two runs' figures. */
export async function serverSettings(url: string): Promise<{ version: string; settings: Record<string, string> }> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    const version = await pool.query<{ v: string }>("select current_setting('server_version') as v");
    const rows = await pool.query<{ name: string; setting: string; unit: string | null }>(
      'select name, setting, unit from pg_settings where name = any($1::text[]) order by name', [SETTINGS]);
    const settings = Object.fromEntries(rows.rows.map((r) => [r.name, r.unit && r.unit !== '' ? `${r.setting} × ${r.unit}` : r.setting]));
    return { version: version.rows[0]?.v ?? 'unknown', settings };
  } finally {
    await pool.end();
  }
}

/** A basket of 1-3 lines and the order they make, as a storefront sends it. */
function cartOf(memberId: string, orderId: string) {
  const items = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, i) => ({
    sku: `SKU-${i}-${Math.floor(Math.random() * 500)}`, category: CATEGORIES[Math.floor(Math.random() * CATEGORIES.length)] as string,
    quantity: 1 + Math.floor(Math.random() * 2), unitPrice: `${1 + Math.floor(Math.random() * 80)}.${String(Math.floor(Math.random() * 100)).padStart(2, '0')}`,
  }));
  const cents = items.reduce((sum, item) => sum + item.quantity * Math.round(Number(item.unitPrice) * 100), 0);
  return {
    memberId, orderId, amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`, currency: 'USD',
    channel: CHANNELS[Math.floor(Math.random() * CHANNELS.length)] as string, items,
  };
}

async function gql(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown };
  if (body.errors || !body.data) throw new Error(`bench setup request failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * Runs with the programme's active earning rules switched off (and on again after): the same
 * purchases measured with no rules, against the server measured with them.
 */
function withoutRules(admin: string) {
  let ids: string[] | null = null;
  const switchAll = async (url: string, active: boolean) => {
    for (const id of ids ?? []) await gql(url, admin, SET_RULE_ACTIVE, { id, active });
  };
  return async <T>(url: string, run: () => Promise<T>): Promise<T> => {
    ids ??= ((await gql(url, admin, ACTIVE_RULES)).earningRules as { id: string }[]).map((r) => r.id);
    await switchAll(url, false);
    try {
      return await run();
    } finally {
      await switchAll(url, true);
    }
  };
}

/**
 * Runs with a reward of the catalogue to redeem, created on the server at hand the first time
 * (2 points, as redeemPoints spends 1-3): unlimited, or with a stock that does not run out.
 */
function withReward(admin: string, runId: string, stock: number | null, reward: Map<string, string>) {
  return async <T>(url: string, run: () => Promise<T>): Promise<T> => {
    if (!reward.has(url)) {
      const code = `BENCH-${runId.replace(/[^A-Za-z0-9_-]/g, '')}-${reward.size}-${stock === null ? 'OPEN' : 'STOCK'}`;
      const created = await gql(url, admin, CREATE_REWARD, { input: { code, name: 'Bench reward', pointsCost: 2, type: 'VOUCHER', stock } });
      reward.set(url, (created.createReward as { id: string }).id);
    }
    return run();
  };
}

/**
 * Runs with one active webhook subscribed to every event, its receiver (here, in the bench's
 * process) answering 200 at once; afterwards waits, at most a minute, for the deliveries left
 * over to drain, then switches the webhook off, so later operations run without it. A run's
 * req/s counts the drain in (requests over run + drain): purchases whose deliveries are put off
 * past the run are not free. `drainMs` says how long it took.
 */
function withWebhook(admin: string) {
  return async <T>(url: string, run: () => Promise<T>): Promise<T> => {
    const receiver = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end()); });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const created = await gql(url, admin, CREATE_WEBHOOK, { input: { url: `http://127.0.0.1:${port}/hooks`, events: ['*'], description: 'bench receiver' } });
    const id = (created.createWebhook as { webhook: { id: string } }).webhook.id;
    try {
      const result = await run();
      const drainStarted = performance.now();
      const drainBy = Date.now() + 60_000;
      while (Date.now() < drainBy) {
        const pending = (await gql(url, admin, PENDING_DELIVERIES, { id })).webhookDeliveries as { totalCount: number };
        if (pending.totalCount === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return withDrain(result, performance.now() - drainStarted);
    } finally {
      await gql(url, admin, SET_WEBHOOK, { id, active: false });
      await new Promise((resolve) => receiver.close(resolve));
    }
  };
}

/** A measured run's figures with the drain after it counted in; anything else as it is. */
function withDrain<T>(result: T, drainMs: number): T {
  const figures = result as Partial<OpFigures>;
  if (typeof figures?.rps !== 'number' || typeof figures.ok !== 'number' || figures.rps <= 0 || figures.offeredRate !== undefined) return result;
  const seconds = figures.ok / figures.rps;
  return { ...figures, rps: Math.round((figures.ok / (seconds + drainMs / 1000)) * 10) / 10, drainMs: Math.round(drainMs) } as T;
}

/** The ceiling C, measured on the plain Apollo service (plain-apollo.ts), not on Milepost. */
export const CEILING: Operation = { name: 'hello', label: 'C  plain Apollo { hello }', body: () => ({ query: '{ hello }' }) };

/** The operations measured; `admin` signs the setting changes some of them run in. */
export function operations(sample: Sample, runId: string, admin: string): Operation[] {
  const pick = (ids: string[]) => ids[Math.floor(Math.random() * ids.length)] as string;
  let order = 0;
  let key = 0;
  const purchase = () => ({ query: PURCHASE, variables: { input: cartOf(pick(sample.all), `bench-${runId}-${order++}`) } });
  return [
    { name: 'typename', label: '(0) { __typename }', body: () => ({ query: '{ __typename }' }) },
    { name: 'now', label: '(1) { now }', body: () => ({ query: '{ now }' }) },
    { name: 'balance', label: '(2) member balance', body: () => ({ query: BALANCE, variables: { id: pick(sample.all) } }) },
    { name: 'recordPurchase', label: '(3) recordPurchase', body: purchase },
    {
      name: 'redeemPoints', label: '(4) redeemPoints',
      body: () => ({
        query: REDEEM,
        variables: { input: { memberId: pick(sample.redeemable), points: 1 + Math.floor(Math.random() * 3), idempotencyKey: `bench-${runId}-${key++}` } },
      }),
    },
    { name: 'statement', label: '(5) transactions(first:20)', body: () => ({ query: STATEMENT, variables: { id: pick(sample.all) } }) },
    { name: 'quoteEarn', label: '(6) quoteEarn', body: () => ({ query: QUOTE, variables: { input: cartOf(pick(sample.all), `quote-${runId}`) } }) },
    { name: 'recordPurchaseNoRules', label: '(7) recordPurchase, rules off', body: purchase, around: withoutRules(admin) },
    redeemReward('redeemReward', '(8) redeemReward', null),
    redeemReward('redeemRewardStock', '(9) redeemReward, with stock', 1_000_000_000),
    { name: 'recordPurchaseWebhook', label: '(10) recordPurchase, one * webhook', body: purchase, around: withWebhook(admin) },
  ];

  function redeemReward(name: string, label: string, stock: number | null): Operation {
    const rewards = new Map<string, string>();
    let url = '';
    const around = withReward(admin, runId, stock, rewards);
    return {
      name, label,
      around: (at, run) => { url = at; return around(at, run); },
      body: () => ({
        query: REDEEM_REWARD,
        variables: { input: { memberId: pick(sample.redeemable), rewardId: rewards.get(url) as string, idempotencyKey: `bench-${runId}-${key++}` } },
      }),
    };
  }
}

export function tokens(secret: string, count: number): string[] {
  // Distinct callers, so the per-caller rate limit (a production default) runs its real
  // bookkeeping without ever tripping on the benchmark itself.
  const jwt = { secret, publicKey: null, issuer: 'milepost', audience: 'milepost-api' };
  return Array.from({ length: count }, (_, k) => signToken(jwt, { role: 'ADMIN', sub: `bench-caller-${k}`, ttlSeconds: 3600 }));
}

/**
 * The order in which servers that take turns (--compare, --scale) run an operation in a round:
 * reversed every other round, so neither always runs right after the other's writes or first
 * after the operation before. With the order fixed, an operation whose code was the same in
 * both builds came out ×0.80 for the build that always went first, in all five rounds of one run.
 */
export function turnOrder<T>(targets: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...targets].reverse() : [...targets];
}
