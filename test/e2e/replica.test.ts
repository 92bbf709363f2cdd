/**
 * Insights read from a streaming read replica (DATABASE_READ_URL). Needs a real standby of the
 * test server: `scripts/replica.sh` makes one (.ci/run does, before the PostgreSQL run) and
 * TEST_DATABASE_READ_URL names it. Without both (and on PGlite, which has no replicas) the test
 * is skipped, and reported so.
 *
 * The proof that insights come from the replica: with replay paused there, a purchase made on
 * the primary does not show in programInsights or Member.loyalty; once replay resumes, it does.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { type TestApp, startTestApp } from '../support/harness';
import { eventually } from '../support/eventually';
import { DEFAULT_PROGRAM, PURCHASE, key, ok, updateProgram } from './ledger-fixtures';

const primaryUrl = process.env.TEST_DATABASE_URL || '';
const replicaUrl = process.env.TEST_DATABASE_READ_URL || '';
// Without a server and a replica of it, the test is skipped, and reported so.
const withReplica = primaryUrl && replicaUrl ? describe : describe.skip;

const INSIGHTS = `query($from: DateTime!, $to: DateTime!, $tag: String) {
  programInsights(from: $from, to: $to, tag: $tag) { pareto { buyers revenue } points { issued } } }`;
const LOYALTY = `query($id: ID!) { member(id: $id) { loyalty { purchaseCount } } }`;

withReplica('insights on a read replica (TEST_DATABASE_READ_URL)', () => {
  let t: TestApp;
  let replica: Pool;
  let primary: Pool;
  beforeAll(async () => {
    t = await startTestApp({ DATABASE_READ_URL: replicaUrl });
    replica = new Pool({ connectionString: replicaUrl, max: 1 });
    primary = new Pool({ connectionString: primaryUrl, max: 1 });
    await updateProgram(t, DEFAULT_PROGRAM);
  });
  afterAll(async () => {
    await replica.query('select pg_wal_replay_resume()').catch(() => undefined);
    await replica.end();
    await primary.end();
    await t.close();
  });

  /** Waits until the replica has replayed everything the primary has written so far. */
  async function caughtUp(): Promise<void> {
    const { rows } = await primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const target = rows[0]!.lsn;
    await eventually('the replica to replay the primary\'s writes', async () => {
      const r = await replica.query<{ done: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as done', [target]);
      return r.rows[0]!.done;
    }, 10_000);
  }

  test('the replica is a standby, and insights answer what it has replayed, not what the primary has', async () => {
    expect((await replica.query('select pg_is_in_recovery() as standby')).rows[0].standby).toBe(true);
    const tag = `replica-${randomUUID().slice(0, 8)}`;
    const id = ok(await t.gql(`mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`, { input: { externalId: key('replica') } })).enrollMember.id;
    ok(await t.gql(`mutation($id: ID!, $tags: [String!]!) { setMemberTags(memberId: $id, tags: $tags) { id } }`, { id, tags: [tag] }));
    const buy = (amount: string) => t.gql(PURCHASE, { input: { memberId: id, orderId: key('order'), amount, currency: 'USD' } });
    ok(await buy('10.00'));
    const day = 86_400_000;
    const range = { from: new Date(Date.now() - day).toISOString(), to: new Date(Date.now() + day).toISOString(), tag };
    await caughtUp();
    expect(ok(await t.gql(INSIGHTS, range)).programInsights.pareto).toEqual({ buyers: 1, revenue: '10.00' });

    await replica.query('select pg_wal_replay_pause()');
    try {
      ok(await buy('25.00'));
      // Written on the primary, not yet replayed: the answers still show one purchase.
      const during = ok(await t.gql(INSIGHTS, range)).programInsights;
      expect(during).toEqual({ pareto: { buyers: 1, revenue: '10.00' }, points: { issued: 10 } });
      expect(ok(await t.gql(LOYALTY, { id })).member.loyalty.purchaseCount).toBe(1);
    } finally {
      await replica.query('select pg_wal_replay_resume()');
    }
    await caughtUp();
    expect(ok(await t.gql(INSIGHTS, range)).programInsights).toEqual({ pareto: { buyers: 1, revenue: '35.00' }, points: { issued: 35 } });
    expect(ok(await t.gql(LOYALTY, { id })).member.loyalty.purchaseCount).toBe(2);
    // Writes still go to the primary: the maintenance pass (which writes the summary) runs.
    expect(ok(await t.gql(`mutation { runMaintenance { loyaltyRefreshed } }`)).runMaintenance.loyaltyRefreshed).toBeGreaterThanOrEqual(1);
  });
});
