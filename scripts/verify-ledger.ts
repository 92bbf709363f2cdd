/**
 * npm run verify-ledger: recomputes every member's figures from the ledger and lots, prints
 * how many members were checked and any drift, and exits 1 when anything disagrees.
 * Reads DATABASE_URL like the service (unset: the embedded PGlite database).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/database';
import { verifyLedger } from '../src/ledger/verify.repo';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'batch-size': { type: 'string', default: '5000' }, quiet: { type: 'boolean', default: false } } });
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('--batch-size must be a positive integer');
  const config = loadConfig();
  const database = await openDatabase(config.database, { poolSize: 2 });
  const started = process.hrtime.bigint();
  try {
    const report = await verifyLedger(database.db, {
      batchSize,
      onProgress: (n) => { if (!values.quiet && process.stderr.isTTY) process.stderr.write(`\rchecked ${n} members`); },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (process.stderr.isTTY && !values.quiet) process.stderr.write('\n');
    console.log(`checked ${report.membersChecked} members in ${seconds.toFixed(1)} s`);
    for (const d of report.drift.slice(0, 100)) console.log(`DRIFT member ${d.memberId}: ${d.checks.join(', ')}`);
    if (report.drift.length > 100) console.log(`… and ${report.drift.length - 100} more`);
    console.log(report.drift.length === 0 ? 'ledger OK: no drift' : `ledger DRIFT: ${report.drift.length} members disagree`);
    return report.drift.length === 0 ? 0 : 1;
  } finally {
    await database.close();
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(`verify-ledger failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
});
