/**
 * Drives seeding: sets the tier ladder, works out which blocks of members are missing,
 * generates and writes them with a bounded number in flight (generation is CPU, writing is
 * I/O, so they overlap), then gives the seed's members their tier states at --as-of.
 */
import { sql } from 'kysely';
import type { Config } from '../../src/config';
import type { Database } from '../../src/db/database';
import { BLOCK, SeedBlock, externalIdOf, type SeedSettings } from './seed-model';
import { ensureLadder, seedTierStates, tierDistribution, type TierSeedSummary } from './seed-tiers';
import { TABLE_NAMES, writeBlock } from './seed-writer';
import { ensureRules } from './seed-rules';

export interface SeedOptions extends SeedSettings {
  members: number;
  /** The service configuration: the ladder is set through the programme service as an ADMIN. */
  config: Config;
}

export interface SeedSummary {
  membersBefore: number;
  membersAdded: number;
  rows: Record<string, number>;
  totals: Record<string, number>;
  tiers: TierSeedSummary;
  /** Earning rules created this run (none when the programme had rules). */
  rulesCreated: number;
}

const TIER_TABLES = ['member_tiers', 'tier_history'];

interface Range { from: number; to: number }

/** The member index ranges of this seed not yet in the database, block-aligned. */
async function missingRanges(database: Database, seed: number, members: number): Promise<{ ranges: Range[]; present: number }> {
  const blocks: Range[] = [];
  for (let from = 0; from < members; from += BLOCK) blocks.push({ from, to: Math.min(members, from + BLOCK) });
  const probe = blocks.flatMap((b) => [externalIdOf(seed, b.from), externalIdOf(seed, b.to - 1)]);
  const found = new Set<string>();
  for (let i = 0; i < probe.length; i += 10_000) {
    const slice = probe.slice(i, i + 10_000);
    const rows = await sql<{ external_id: string }>`select external_id from members where external_id = any(${slice}::text[])`.execute(database.db);
    for (const row of rows.rows) found.add(row.external_id);
  }
  const ranges: Range[] = [];
  let present = 0;
  for (const block of blocks) {
    const first = found.has(externalIdOf(seed, block.from));
    const last = found.has(externalIdOf(seed, block.to - 1));
    if (first && last) { present += block.to - block.from; continue; }
    if (!first) { ranges.push(block); continue; }
    // A block cut short by an earlier, smaller --members: add its tail.
    const ids = Array.from({ length: block.to - block.from }, (_, k) => externalIdOf(seed, block.from + k));
    const have = await sql<{ n: number }>`select count(*)::int as n from members where external_id = any(${ids}::text[])`.execute(database.db);
    const n = have.rows[0]?.n ?? 0;
    present += n;
    ranges.push({ from: block.from + n, to: block.to });
  }
  return { ranges, present };
}

/**
 * Adds the missing members of `seed` up to `members`, and the tier states of the seed's members
 * that have none; returns what was written, the table totals and the tier distribution.
 * The history is earned under the lowest rung's rules; the ladder counts from --as-of on.
 */
export async function seedMembers(
  database: Database,
  options: SeedOptions,
  hooks: {
    onStart?: (todo: number) => void;
    onBlock?: (done: number, rows: number) => void;
    onTierBatch?: (checked: number, stored: number) => void;
  } = {},
): Promise<SeedSummary> {
  const ladderSet = await ensureLadder(database.db, options.config, options.asOf);
  const rulesCreated = await ensureRules(database.db, options.config, options.asOf);
  const { ranges, present } = await missingRanges(database, options.seed, options.members);
  const todo = ranges.reduce((sum, r) => sum + (r.to - r.from), 0);
  hooks.onStart?.(todo);
  const rows: Record<string, number> = Object.fromEntries(TABLE_NAMES.map((t) => [t, 0]));
  const inFlight = database.kind === 'postgres' ? 2 : 1;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ranges.length) {
      const range = ranges[next++] as Range;
      const block = new SeedBlock(options).generate(range.from, range.to);
      const counts = await writeBlock(database.db, block);
      let total = 0;
      for (const [table, n] of Object.entries(counts)) { rows[table] = (rows[table] ?? 0) + n; total += n; }
      done += range.to - range.from;
      hooks.onBlock?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const states = await seedTierStates(database, options.seed, options.asOf, { analyze: todo > 0, onBatch: hooks.onTierBatch });
  rows.member_tiers = states.stored;
  rows.tier_history = states.historyRows;
  const totals: Record<string, number> = {};
  for (const table of [...TABLE_NAMES, ...TIER_TABLES]) {
    const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(database.db);
    totals[table] = r.rows[0]?.n ?? 0;
  }
  const distribution = await tierDistribution(database.db, options.seed);
  return { membersBefore: present, membersAdded: todo, rows, totals, tiers: { ladderSet, ...states, distribution }, rulesCreated };
}
