/**
 * Tiers for `npm run seed`: the seeded programme's ladder, and each seeded member's tier state
 * as the tier engine (src/tiers/tiers.engine.ts) would write it had the ladder been launched
 * at --as-of: the history before stays earned under the one-rung rules, and every member
 * holds, as an UPGRADE at that instant, the tier its qualifying activity in the window earns.
 *
 * A member with no member_tiers row is read by the engine as the lowest rung since enrolment,
 * so only members above it get rows. States are computed a batch of members at a time: their
 * qualifying metrics in one set-based query (the engine's metrics SQL, grouped by member), the
 * tier and validity with the engine's own rules, and rows bulk-inserted. Ladders with lifetime
 * thresholds, which also need lifetime sums and can move a member twice, go through the engine
 * itself, member by member.
 */
import { sql } from 'kysely';
import pino from 'pino';
import type { Config } from '../../src/config';
import type { Ctx } from '../../src/context';
import type { Database, Db } from '../../src/db/database';
import { toUnits } from '../../src/money';
import { getProgram, setTiers, type TierInput } from '../../src/program/program.service';
import type { ProgramView, TierView } from '../../src/program/program.types';
import * as engine from '../../src/tiers/tiers.engine';
import { tierStatusRules } from '../../src/tiers/tiers.service';
import { runUnit } from '../../src/ledger/unit-of-work';
import type { MemberTierRow } from '../../src/tiers/tiers.repo';
import { qualificationWindow, qualifiedTier, validityEnd, type Metrics, type Window } from '../../src/tiers/tiers.rules';
import { ACTOR, externalIdPrefix } from './seed-model';
import { insertStatement, type Columns } from './seed-writer';

/**
 * An airline-style ladder sized to the seeded spend (about 1 qualifying point per currency
 * unit, Pareto baskets): roughly two thirds stay MEMBER, a few percent reach PLATINUM.
 */
export const SEED_LADDER: TierInput[] = [
  { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
  { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 125, earnMultiplier: 1.25, perks: ['Priority check-in'] },
  {
    code: 'GOLD', name: 'Gold', rank: 2, qualifyingPointsRequired: 400, earnMultiplier: 1.5,
    perks: ['Priority check-in', 'Extra checked bag', 'Lounge access'],
  },
  {
    code: 'PLATINUM', name: 'Platinum', rank: 3, qualifyingPointsRequired: 1000, earnMultiplier: 2,
    perks: ['Priority check-in', 'Extra checked bag', 'Lounge access', 'Complimentary upgrades'],
  },
];

const BATCH = 10_000;

const STATE_COLUMNS: Columns = {
  member_id: 'uuid', tier_code: 'text', since: 'timestamptz', valid_until: 'timestamptz', grace_until: 'timestamptz',
  lifetime_code: 'text', assigned_code: 'text', assigned_since: 'timestamptz', assigned_until: 'timestamptz',
  expiry_frozen: 'boolean', version: 'int', updated_at: 'timestamptz',
};
const HISTORY_COLUMNS: Columns = {
  member_id: 'uuid', at: 'timestamptz', from_code: 'text', to_code: 'text', reason: 'text', valid_until: 'timestamptz',
  previous_valid_until: 'timestamptz', previous_since: 'timestamptz', note: 'text', created_at: 'timestamptz',
};

export interface TierSeedSummary {
  /** Whether this run replaced a one-rung ladder with SEED_LADDER. */
  ladderSet: boolean;
  /** Seeded members without a tier state that were evaluated. */
  checked: number;
  /** States (member_tiers rows) written, each with one or more tier_history rows. */
  stored: number;
  historyRows: number;
  seconds: number;
  /** Every member of the seed by stored tier, lowest rung first (no row: the lowest rung). */
  distribution: { code: string; name: string; members: number }[];
}

interface Candidate { id: string; enrolled_at: Date }

/** Sets SEED_LADDER through the programme service when the programme still has a one-rung ladder; a ladder of several rungs is kept. */
export async function ensureLadder(db: Db, config: Config, now: Date): Promise<boolean> {
  const program = await getProgram(db);
  if (program.tiers.length > 1) return false;
  const silent = pino({ level: 'silent' });
  const ctx: Ctx = {
    actor: { role: 'ADMIN', sub: ACTOR }, db, statements: db, reads: db, config, log: () => silent, requestId: 'seed', rateCount: null, now: async () => now,
  };
  await setTiers(ctx, SEED_LADDER);
  return true;
}

/**
 * Gives every member of `seed` that has no tier state the one a launch of the current ladder
 * at `asOf` gives it. Members that already have a state keep it, so re-running adds nothing twice.
 */
export async function seedTierStates(
  database: Database, seed: number, asOf: Date,
  options: { analyze?: boolean; onBatch?: (checked: number, stored: number) => void } = {},
): Promise<Omit<TierSeedSummary, 'ladderSet' | 'distribution'>> {
  const started = process.hrtime.bigint();
  const { db } = database;
  // After a bulk load, fresh statistics keep the per-batch plans on the member indexes.
  if (options.analyze) await sql`analyze members, points_transactions, orders, member_tiers`.execute(db);
  const program = await getProgram(db);
  const summary = { checked: 0, stored: 0, historyRows: 0 };
  const bottom = engine.lowest(program);
  // As in applyActivity: with nothing earnable above the lowest rung, nobody moves.
  if (program.tiers.some((t) => t.rank > bottom.rank && !t.invitation_only)) {
    let after: string | null = null;
    for (;;) {
      const batch = await membersWithoutState(db, seed, after);
      if (batch.length === 0) break;
      after = (batch.at(-1) as Candidate).id;
      const written = engine.hasLifetimeTiers(program)
        ? await launchThroughEngine(database, program, batch, asOf)
        : await launchInBulk(db, program, batch, asOf);
      summary.checked += batch.length;
      summary.stored += written.states;
      summary.historyRows += written.history;
      options.onBatch?.(summary.checked, summary.stored);
    }
  }
  return { ...summary, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Members of the seed by stored tier (a missing row or a code no longer on the ladder reads as the lowest rung, as in the engine). */
export async function tierDistribution(db: Db, seed: number): Promise<TierSeedSummary['distribution']> {
  const program = await getProgram(db);
  const { rows } = await sql<{ tier_code: string | null; n: number }>`
    select mt.tier_code, count(*)::int as n
    from members m left join member_tiers mt on mt.member_id = m.id
    where m.external_id like ${`${externalIdPrefix(seed)}%`}
    group by mt.tier_code`.execute(db);
  const counts = new Map<string, number>(program.tiers.map((t) => [t.code, 0]));
  for (const row of rows) {
    const tier = engine.tierByCode(program, row.tier_code) ?? engine.lowest(program);
    counts.set(tier.code, (counts.get(tier.code) ?? 0) + row.n);
  }
  return program.tiers.map((t) => ({ code: t.code, name: t.name, members: counts.get(t.code) ?? 0 }));
}

async function membersWithoutState(db: Db, seed: number, after: string | null): Promise<Candidate[]> {
  let query = db.selectFrom('members as m').select(['m.id', 'm.enrolled_at'])
    .where('m.external_id', 'like', `${externalIdPrefix(seed)}%`)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('member_tiers as mt').select('mt.member_id').whereRef('mt.member_id', '=', 'm.id'))))
    .orderBy('m.id').limit(BATCH);
  if (after !== null) query = query.where('m.id', '>', after);
  return query.execute();
}

/**
 * tiers.repo.metrics for many members at once, each in its own window, as known at `knownAt`:
 * the same joins and filters, grouped by member. Spend and purchases are read only when a rung
 * asks for them (otherwise they cannot change the outcome).
 */
async function batchMetrics(db: Db, members: Candidate[], windows: Window[], knownAt: Date, withOrders: boolean): Promise<Map<string, Metrics>> {
  const ids = members.map((m) => m.id);
  const froms = windows.map((w) => w.from.toISOString());
  const tos = windows.map((w) => w.to.toISOString());
  const windowRows = sql`select * from unnest(${ids}::uuid[], ${froms}::timestamptz[], ${tos}::timestamptz[]) as w(member_id, w_from, w_to)`;
  const points = await sql<{ member_id: string; qp: number }>`
    with w as (${windowRows})
    select w.member_id, coalesce(sum(t.qualifying_points), 0)::int as qp
    from w
    join points_transactions t on t.member_id = w.member_id
    left join points_transactions p on p.id = t.related_id and t.type = 'REFUND'
    where not t.cancelled and t.created_at <= ${knownAt}
      and coalesce(p.occurred_at, t.occurred_at) >= w.w_from and coalesce(p.occurred_at, t.occurred_at) < w.w_to
    group by w.member_id`.execute(db);
  const result = new Map<string, Metrics>(points.rows.map((r) => [r.member_id, { points: r.qp, spendCents: 0, purchases: 0 }]));
  if (!withOrders) return result;
  const orders = await sql<{ member_id: string; spend: string; purchases: number }>`
    with w as (${windowRows})
    select w.member_id, coalesce(sum(o.amount - coalesce(r.refunded, 0)), 0)::text as spend,
      (count(*) filter (where o.amount > coalesce(r.refunded, 0)))::int as purchases
    from w
    join orders o on o.member_id = w.member_id
    left join lateral (select sum(amount) as refunded from refunds
      where refunds.order_id = o.order_id and refunds.created_at <= ${knownAt}) r on true
    where o.created_at <= ${knownAt} and o.occurred_at >= w.w_from and o.occurred_at < w.w_to
    group by w.member_id`.execute(db);
  for (const row of orders.rows) {
    const m = result.get(row.member_id) ?? { points: 0, spendCents: 0, purchases: 0 };
    result.set(row.member_id, { ...m, spendCents: Number(toUnits(row.spend, 2)), purchases: row.purchases });
  }
  return result;
}

/**
 * What load → applyActivity → persist writes at `asOf` for a member with no stored state and no
 * lifetime rungs: the state load() builds (the lowest rung since enrolment), changed by an
 * UPGRADE to `tier` valid to the end of the next status period, saved as version 1 (and the
 * member's updated_at set to `asOf`, which launchInBulk writes).
 */
function launchedState(program: ProgramView, member: Candidate, tier: TierView, asOf: Date): engine.Evolving {
  const bottom = engine.lowest(program);
  const ev: engine.Evolving = {
    state: {
      member_id: member.id, tier_code: bottom.code, since: member.enrolled_at, valid_until: null, grace_until: null,
      lifetime_code: null, assigned_code: null, assigned_since: null, assigned_until: null,
      expiry_frozen: program.freeze_expiry_min_rank != null && bottom.rank >= program.freeze_expiry_min_rank,
      version: 0, updated_at: member.enrolled_at,
    },
    readVersion: null, history: [], freezeLostAt: [], changed: false,
  };
  engine.change(program, ev, asOf, 'UPGRADE', {
    tier_code: tier.code, since: asOf, grace_until: null, valid_until: validityEnd(program.qualification_window, member.enrolled_at, asOf),
  });
  ev.state = { ...ev.state, version: 1, updated_at: asOf } satisfies MemberTierRow;
  ev.history = ev.history.map((h) => ({ ...h, created_at: asOf }));
  return ev;
}

async function launchInBulk(db: Db, program: ProgramView, batch: Candidate[], asOf: Date): Promise<{ states: number; history: number }> {
  const kind = program.qualification_window;
  const withOrders = program.tiers.some((t) => t.qualifying_spend_required != null || t.qualifying_purchases_required != null);
  const metrics = await batchMetrics(db, batch, batch.map((m) => qualificationWindow(kind, m.enrolled_at, asOf)), asOf, withOrders);
  const bottom = engine.lowest(program);
  const launched: engine.Evolving[] = [];
  for (const member of batch) {
    const tier = qualifiedTier(program.tiers, metrics.get(member.id) ?? { points: 0, spendCents: 0, purchases: 0 });
    if (tier.rank > bottom.rank) launched.push(launchedState(program, member, tier, asOf));
  }
  if (launched.length === 0) return { states: 0, history: 0 };
  return db.transaction().execute(async (tx) => {
    await sql`set local synchronous_commit = off`.execute(tx);
    // A state that appeared since the batch was read wins; its member gets no second history.
    const inserted = await sql<{ member_id: string }>`${insertStatement('member_tiers', STATE_COLUMNS, launched.map((ev) => ev.state))}
      on conflict (member_id) do nothing returning member_id`.execute(tx);
    const stored = new Set(inserted.rows.map((r) => r.member_id));
    const history = launched.filter((ev) => stored.has(ev.state.member_id)).flatMap((ev) => ev.history);
    if (history.length > 0) await insertStatement('tier_history', HISTORY_COLUMNS, history).execute(tx);
    // persist touches the member's row with every change to its tier state (ledger/unit-of-work.ts).
    if (stored.size > 0) await sql`update members set updated_at = ${asOf} where id = any(${[...stored]}::uuid[])`.execute(tx);
    return { states: stored.size, history: history.length };
  });
}

/** The engine itself, one transaction per member under its row lock (ladders with lifetime rungs). */
async function launchThroughEngine(database: Database, program: ProgramView, batch: Candidate[], asOf: Date): Promise<{ states: number; history: number }> {
  const written = { states: 0, history: 0 };
  let next = 0;
  const worker = async () => {
    while (next < batch.length) {
      const { id } = batch[next++] as Candidate;
      const unit = { members: [id], status: tierStatusRules, active: false, settle: false };
      const rows = await runUnit({ db: database.db, now: async () => asOf }, unit, async (work) => {
        const member = work.member(id);
        const ev = await engine.load(work, member, program);
        if (ev.readVersion !== null) return 0;
        await engine.applyActivity(work, member, program, ev, asOf);
        const history = ev.history.length;
        return (await engine.persist(work, program, ev)) ? history : 0;
      });
      if (rows > 0) {
        written.states++;
        written.history += rows;
      }
    }
  };
  await Promise.all(Array.from({ length: database.kind === 'postgres' ? 3 : 1 }, worker));
  return written;
}
