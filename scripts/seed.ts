/**
 * npm run seed -- --members N [--seed S] [--as-of ISO] [--quiet]
 *
 * Fills the database (DATABASE_URL like the service; unset: embedded PGlite) with N synthetic
 * members and two years of history each: Pareto-distributed purchases across channels, partial
 * and full refunds, redemptions, transfers, expiring welcome bonuses. Rows are generated
 * block by block with the ledger's own rules and bulk-inserted, so the ledger invariants hold
 * (npm run verify-ledger). Deterministic for a given --seed; re-running resumes and only adds
 * the blocks that are missing.
 *
 * A programme still on a one-rung ladder gets MEMBER / SILVER / GOLD / PLATINUM (setTiers),
 * launched at --as-of: the history stays earned at ×1, and each member holds the tier its
 * qualifying points in the window up to --as-of earn, as the tier engine would store it.
 * Members that already have a tier state keep it. A programme without earning rules gets a few
 * realistic ones (scripts/lib/seed-rules.ts); purchases carry baskets of 1-3 items.
 */
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { sql } from 'kysely';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/database';
import { getProgram } from '../src/program/program.service';
import { refreshLoyalty } from '../src/insights/insights.service';
import { seedMembers } from './lib/seeder';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      members: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      'as-of': { type: 'string', default: '2026-11-01T00:00:00Z' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const members = Number(values.members);
  const seed = Number(values.seed);
  const asOf = new Date(values['as-of'] as string);
  if (!Number.isInteger(members) || members < 1 || members > 10_000_000) throw new Error('--members must be 1..10000000');
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error('--seed must be a non-negative 32-bit integer');
  if (Number.isNaN(asOf.getTime()) || asOf.getTime() > Date.now()) throw new Error('--as-of must be a past ISO-8601 instant');

  const config = loadConfig();
  const database = await openDatabase(config.database, { poolSize: 3 });
  const started = process.hrtime.bigint();
  try {
    const program = await getProgram(database.db);
    const bar = values.quiet ? null : new SingleBar({
      format: 'seeding |{bar}| {percentage}% {value}/{total} members | {rows} rows | eta {eta_formatted}',
    }, Presets.shades_classic);
    let rowsSoFar = 0;
    const summary = await seedMembers(database, {
      members, seed, asOf, config,
      earnRate: program.earn_rate, earnMultiplier: String(program.tiers[0]?.earn_multiplier ?? '1'),
      pointsName: program.points_name, currency: program.currency,
    }, {
      onStart: (todo) => bar?.start(todo, 0, { rows: 0 }),
      onBlock: (done, rows) => { rowsSoFar += rows; bar?.update(done, { rows: rowsSoFar }); },
      onTierBatch: (checked, stored) => {
        bar?.stop();
        if (bar && process.stderr.isTTY) process.stderr.write(`\rtier states: ${checked} members checked, ${stored} above the lowest rung`);
      },
    });
    bar?.stop();
    if (bar && process.stderr.isTTY && summary.tiers.checked > 0) process.stderr.write('\n');
    // Leaves the database as a long-lived one is: statistics fresh, and the visibility map set
    // by VACUUM, without which index-only scans (the balance figures) visit the heap for every
    // freshly loaded row and the first reads set hint bits on every page.
    await sql`vacuum (analyze)`.execute(database.db);
    // The loyalty summary insights count from (the maintenance pass keeps it fresh afterwards).
    const loyalty = await refreshLoyalty(database.db, new Date(), undefined, { everyone: true });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`seed ${seed}: ${summary.membersAdded} members added (${summary.membersBefore} already there, target ${members}) in ${seconds.toFixed(1)} s`);
    console.log('rows written this run:');
    for (const [table, n] of Object.entries(summary.rows)) console.log(`  ${table.padEnd(18)} ${String(n).padStart(10)}`);
    console.log('rows in the database now:');
    for (const [table, n] of Object.entries(summary.totals)) console.log(`  ${table.padEnd(18)} ${String(n).padStart(10)}`);
    console.log(`loyalty summary: ${loyalty.members} members refreshed (${loyalty.full ? 'all' : 'changed'}) in ${(loyalty.ms / 1000).toFixed(1)} s`);
    const { tiers } = summary;
    console.log(`tiers ${tiers.ladderSet ? 'set on the programme this run' : 'as configured'}, launched at ${asOf.toISOString()}: `
      + `${tiers.stored} states written for ${tiers.checked} members without one in ${tiers.seconds.toFixed(1)} s`);
    console.log(summary.rulesCreated > 0 ? `earning rules: ${summary.rulesCreated} created (docs/rules.md)` : 'earning rules: as configured');
    const seeded = tiers.distribution.reduce((sum, t) => sum + t.members, 0);
    console.log(`tier distribution of seed ${seed} (${seeded} members):`);
    for (const t of tiers.distribution) {
      const share = seeded > 0 ? ((100 * t.members) / seeded).toFixed(1) : '0.0';
      console.log(`  ${t.code.padEnd(18)} ${String(t.members).padStart(10)} ${share.padStart(6)} %`);
    }
    return 0;
  } finally {
    await database.close();
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(`seed failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
