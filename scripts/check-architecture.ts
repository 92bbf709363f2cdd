/**
 * npx ts-node --transpile-only scripts/check-architecture.ts: checks src/ against three layering
 * rules and exits 1 when any is broken, 0 when none is:
 *   - no circle of imports between src/'s top-level folders (a file directly in src/ is a folder
 *     of its own, e.g. errors.ts), type-only imports included;
 *   - no SQL built outside src/db/ and the *.repo.ts files;
 *   - no write to points_transactions, point_lots or lot_allocations outside
 *     src/ledger/unit-of-work.repo.ts.
 * Reads the source text only: no database, no build, no codegen needed.
 */
import { resolve } from 'node:path';
import {
  UNIT_OF_WORK, describeCycle, describeFinding, folderCycles, folderEdges, importGraph, ledgerWritesOutsideUnitOfWork, sqlOutsideRepos,
} from './lib/architecture';

const SRC = resolve(__dirname, '..', 'src');

function main(): number {
  const graph = importGraph(SRC);
  const cycles = folderCycles(graph);
  const sql = sqlOutsideRepos(SRC);
  const writes = ledgerWritesOutsideUnitOfWork(SRC);

  console.log(`src/: ${graph.files.length} files, ${graph.imports.length} imports between them\n`);
  console.log('Folder dependencies:');
  const edges = folderEdges(graph).filter((e) => e.from !== e.to);
  for (const from of [...new Set(edges.map((e) => e.from))]) {
    console.log(`  ${from} -> ${edges.filter((e) => e.from === from).map((e) => e.to).join(', ')}`);
  }

  console.log(`\nFolder cycles: ${cycles.length}`);
  for (const cycle of cycles) console.log(`${describeCycle(cycle)}\n`);
  console.log(`SQL outside src/db/ and *.repo.ts: ${sql.length}`);
  for (const f of sql) console.log(`  ${describeFinding(f)}`);
  console.log(`\nLedger writes outside src/${UNIT_OF_WORK}: ${writes.length}`);
  for (const f of writes) console.log(`  ${describeFinding(f)}`);

  const broken = [cycles.length && 'folder cycles', sql.length && 'SQL outside repos', writes.length && 'ledger writes outside the unit of work'].filter(Boolean);
  console.log(broken.length === 0 ? '\narchitecture OK' : `\narchitecture FAILED: ${broken.join(', ')}`);
  return broken.length === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (error: unknown) {
  console.error(`check-architecture failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
}
