/**
 * npm run bench:insights -- [--database-url URL] [--rounds 3] [--sample 200] [--port 4300]
 *                           [--read-url URL] [--working-tree] [--out bench-results/insights.json]
 *
 * Times the loyalty insights over a seeded database (`npm run seed -- --members 1000000` first;
 * default database: $DATABASE_URL). Starts the built service (the committed tree unless
 * --working-tree) in production mode against it, then, over HTTP:
 *
 * - each programInsights field alone, for the year before the service's now, --rounds times
 *   (the median is reported), and the whole query at once; then pointsByMonth, the console's
 *   monthly series, which it asks for apart from the rest;
 * - Member.loyalty for --sample members picked at random, one at a time (p50, p95);
 * - first, the maintenance pass's refresh of the loyalty summary through the service's own
 *   function: a full one (every member), then an incremental one with nothing changed since.
 *
 * Writes the figures to --out as JSON and prints them as a table.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { signToken } from '../src/auth/jwt';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/database';
import { refreshLoyalty } from '../src/insights/insights.service';
import { buildService, startServer } from './lib/bench-server';

const FIELDS: Record<string, string> = {
  nps: 'nps { score responses monthly { month score responses } }',
  retention: 'retention { baseActive retained rate }',
  repeatPurchaseRate: 'repeatPurchaseRate',
  pareto: 'pareto { buyers topBuyers topShare revenue }',
  membersByTier: 'membersByTier { key count }',
  membersByStage: 'membersByStage { key count }',
  churnRisk: 'churnRisk { key count }',
  atRisk: 'atRisk(first: 20) { id }',
  complaints: 'complaints { filed resolved open medianHoursToResolve p90HoursToResolve resolvedWithinSla }',
  points: 'points { issued redeemed expired outstanding liabilityValue breakageRate }',
};

/** The monthly series the console's dashboard asks for apart from FIELDS, timed apart from them. */
const MONTHLY = 'pointsByMonth { month issued redeemed expired outstanding }';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'database-url': { type: 'string', default: process.env.DATABASE_URL ?? '' },
      'read-url': { type: 'string', default: '' },
      rounds: { type: 'string', default: '3' },
      sample: { type: 'string', default: '200' },
      port: { type: 'string', default: '4300' },
      'working-tree': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/insights.json' },
    },
  });
  const databaseUrl = values['database-url'] as string;
  if (!databaseUrl.startsWith('postgres')) throw new Error('--database-url (or DATABASE_URL) must name a seeded PostgreSQL database');
  const rounds = Number(values.rounds);
  const sample = Number(values.sample);
  const secret = 'bench-insights-secret-0123456789abcdef';
  const token = signToken(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, DATABASE_URL: databaseUrl }).jwt, { role: 'ADMIN', sub: 'bench' });

  const database = await openDatabase({ kind: 'postgres', url: databaseUrl }, { poolSize: 2, migrate: true });
  const members = Number((await sql<{ n: string }>`select count(*) as n from members`.execute(database.db)).rows[0]?.n ?? 0);
  const orders = Number((await sql<{ n: string }>`select count(*) as n from orders`.execute(database.db)).rows[0]?.n ?? 0);

  const appDir = buildService(values['working-tree'] as boolean);
  const server = await startServer({
    appDir, databaseUrl, port: Number(values.port), jwtSecret: secret, cpuProfileDir: null,
    env: { JOB_INTERVAL_MS: '0', RATE_LIMIT_PER_MINUTE: '0', ...(values['read-url'] ? { DATABASE_READ_URL: values['read-url'] as string } : {}) },
  });
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const started = performance.now();
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: unknown };
    const ms = performance.now() - started;
    if (body.errors) throw new Error(`${query.slice(0, 80)}: ${JSON.stringify(body.errors)}`);
    return { ms, data: body.data as Record<string, any> };
  };

  try {
    // The summary first: every member (as after seeding), then a pass with nothing changed since.
    const full = await refreshLoyalty(database.db, new Date(), undefined, { everyone: true });
    const incremental = await refreshLoyalty(database.db, new Date());
    console.log(`summary refresh: full ${full.members} members in ${(full.ms / 1000).toFixed(1)} s; incremental ${incremental.members} members in ${incremental.ms} ms`);
    const now = new Date();
    const year = 365 * 86_400_000;
    const range = {
      from: new Date(now.getTime() - year).toISOString(), to: now.toISOString(),
      baseFrom: new Date(now.getTime() - 2 * year).toISOString(), baseTo: new Date(now.getTime() - year).toISOString(),
    };
    const ARGS = '($from: DateTime!, $to: DateTime!, $baseFrom: DateTime, $baseTo: DateTime)';
    const CALL = 'programInsights(from: $from, to: $to, baseFrom: $baseFrom, baseTo: $baseTo)';
    const fields: Record<string, number> = {};
    for (const [name, selection] of Object.entries(FIELDS)) {
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) times.push((await gql(`query${ARGS} { ${CALL} { ${selection} } }`, range)).ms);
      fields[name] = median(times);
      console.log(`programInsights.${name.padEnd(20)} ${fields[name]?.toFixed(0).padStart(7)} ms`);
    }
    const wholeTimes: number[] = [];
    for (let r = 0; r < rounds; r++) wholeTimes.push((await gql(`query${ARGS} { ${CALL} { ${Object.values(FIELDS).join(' ')} } }`, range)).ms);
    const whole = median(wholeTimes);
    console.log(`programInsights (every field) ${whole.toFixed(0).padStart(7)} ms`);
    // The console's monthly series, asked apart from the rest (as the dashboard asks it).
    const monthlyTimes: number[] = [];
    for (let r = 0; r < rounds; r++) monthlyTimes.push((await gql(`query${ARGS} { ${CALL} { ${MONTHLY} } }`, range)).ms);
    const monthly = median(monthlyTimes);
    console.log(`programInsights.pointsByMonth ${monthly.toFixed(0).padStart(7)} ms`);

    const ids = (await sql<{ id: string }>`select id from members tablesample bernoulli (1) limit ${sample}`.execute(database.db)).rows.map((r) => r.id);
    const LOYALTY = `query($id: ID!) { member(id: $id) { loyalty { recencyDays frequency monetary rfm { recency frequency monetary segment }
      purchaseCount repeatPurchases avgDaysBetweenPurchases channels referralsMade complaintsFiled complaintsOpen lastNps npsCategory
      stage health churnRisk churnReasons asOf } } }`;
    const loyalty: number[] = [];
    for (const id of ids) loyalty.push((await gql(LOYALTY, { id })).ms);
    console.log(`Member.loyalty p50 ${median(loyalty).toFixed(1)} ms, p95 ${percentile(loyalty, 0.95).toFixed(1)} ms over ${ids.length} members`);


    const result = {
      at: now.toISOString(), members, orders, rounds,
      programInsightsMs: { fields, whole, pointsByMonth: monthly },
      memberLoyaltyMs: { p50: median(loyalty), p95: percentile(loyalty, 0.95), sample: ids.length },
      summaryRefresh: { incremental: { members: incremental.members, ms: incremental.ms }, full: { members: full.members, ms: full.ms } },
    };
    writeFileSync(values.out as string, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written to ${values.out}`);
  } finally {
    await server.stop();
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
