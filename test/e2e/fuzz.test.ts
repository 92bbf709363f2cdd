/**
 * Every mutation of the schema, called with arguments fast-check derives from its types
 * (test/support/schema-arbitraries.ts), so a mutation added later is fuzzed with no change here.
 * Whatever the arguments: never INTERNAL_SERVER_ERROR nor HTTP 500; a refused call changes no
 * row of any table; and the ledger verifies clean at the end. A fixed seed and a bounded number
 * of runs keep it repeatable and short.
 */
import fc from 'fast-check';
import { buildSchema } from 'graphql';
import { sql } from 'kysely';
import { loadTypeDefs } from '../../src/graphql/schema';
import { verifyLedger } from '../../src/ledger/verify.repo';
import { type TestApp, startTestApp } from '../support/harness';
import { type IdPools, harvest, mutationCase } from '../support/schema-arbitraries';
import { earn, key, ok } from './ledger-fixtures';

// FUZZ_SEED and FUZZ_RUNS explore further by hand; the suite keeps these.
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_206);
const RUNS_PER_MUTATION = Number(process.env.FUZZ_RUNS ?? 6);

const schema = buildSchema(loadTypeDefs());
const mutations = Object.values(schema.getMutationType()?.getFields() ?? {});

let t: TestApp;
let tables: string[];
const pools: IdPools = new Map();
const calls = { made: 0, succeeded: 0 };
/** The service's clock as last set (setTestClock is fuzzed too), for dates near it. */
let clockAt = Date.now();

beforeAll(async () => {
  t = await startTestApp();
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`.execute(t.database.db);
  tables = rows.map((r) => r.name);
});
afterAll(async () => { await t.close(); });

// Before each mutation's fuzz: a fresh member with points and a redemption to act on, and the
// pool of members down to those still open (an earlier fuzz may have closed or erased some).
beforeEach(async () => {
  const member = ok(await t.gql(ENROLL_WITH_TYPE, { input: { externalId: key('fuzz') } }));
  harvest(pools, member);
  const id = member.enrollMember.id as string;
  harvest(pools, await earn(t, id, 5_000));
  harvest(pools, ok(await t.gql(REDEEM_WITH_TYPE, { input: { memberId: id, points: 100, idempotencyKey: key() } })));
  const { rows } = await sql<{ id: string }>`select id from members where status = 'ACTIVE' order by created_at desc limit 20`.execute(t.database.db);
  pools.set('Member', rows.map((r) => r.id));
});

const ENROLL_WITH_TYPE = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { __typename id } }`;
const REDEEM_WITH_TYPE = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { __typename id } }`;

/** Every table's rows, as a count and a digest: equal snapshots mean nothing was written. */
async function snapshot(): Promise<Record<string, string>> {
  const parts = tables.map((name) => sql`select ${name} as name, count(*)::int || ':' || md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as state from ${sql.table(name)} x`);
  const { rows } = await sql<{ name: string; state: string }>`${sql.join(parts, sql` union all `)}`.execute(t.database.db);
  return Object.fromEntries(rows.map((r) => [r.name, r.state]));
}

describe.each(mutations.map((m) => [m.name, m] as const))('%s', (_name, mutation) => {
  test('never an internal error, and a refusal writes nothing', async () => {
    const { document, variables } = mutationCase(pools, () => clockAt, mutation);
    await fc.assert(
      fc.asyncProperty(variables, async (vars) => {
        const before = await snapshot();
        const res = await t.gql(document, vars as Record<string, unknown>);
        const codes = (res.errors ?? []).map((e) => e.extensions?.code);
        expect(res.status).not.toBe(500);
        expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
        calls.made += 1;
        if (codes.length > 0) expect(await snapshot()).toEqual(before);
        else {
          calls.succeeded += 1;
          harvest(pools, res.data);
        }
        if (codes.length === 0 && typeof res.data?.setTestClock === 'string') clockAt = Date.parse(res.data.setTestClock);
      }),
      { seed: SEED, numRuns: RUNS_PER_MUTATION, endOnFailure: true },
    );
  });
});

test('the ledger verifies clean after all of it, and the fuzz reached past the checks', async () => {
  // Were nearly every call refused at the door, the fuzz would prove little.
  expect(calls.made).toBe(mutations.length * RUNS_PER_MUTATION);
  expect(calls.succeeded / calls.made).toBeGreaterThan(0.2);
  const report = await verifyLedger(t.database.db);
  expect(report.membersChecked).toBeGreaterThanOrEqual(4);
  expect(report.drift).toEqual([]);
});
