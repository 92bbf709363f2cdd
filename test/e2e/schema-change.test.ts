/**
 * A migration applied by another instance while this one serves (a rolling deploy adding a
 * column) must not break requests: on PostgreSQL the statements this instance prepared return
 * rows of the old shape, which the server refuses until they are prepared again.
 */
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import { BALANCE, DEFAULT_PROGRAM, REDEEM, balance, earn, enroll, expectLedgerTrue, key, ok, updateProgram } from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

test('reads and writes keep working when a column is added to, then dropped from, members', async () => {
  const members = await Promise.all(Array.from({ length: 6 }, (_, i) => enroll(t, `schema-change-${i}`)));
  for (const id of members) await earn(t, id, 100);
  // Prepare the hot statements on the pool's connections.
  await Promise.all(members.flatMap((id) => [balance(t, id), balance(t, id)]));
  for (const change of ['add column nickname_from_next_release text', 'drop column nickname_from_next_release']) {
    await sql.raw(`alter table members ${change}`).execute(t.database.db);
    const results = await Promise.all(members.flatMap((id) => [
      t.gql(BALANCE, { id }),
      t.gql(REDEEM, { input: { memberId: id, points: 10, idempotencyKey: key('after-migration') } }),
    ]));
    for (const res of results) ok(res);
  }
  for (const id of members) expect(await balance(t, id)).toMatchObject({ available: 80, lifetimeRedeemed: 20 });
  await expectLedgerTrue(t, members);
});
