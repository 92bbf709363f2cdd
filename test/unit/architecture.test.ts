import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  describeCycle, describeFinding, folderCycles, importGraph, ledgerWritesOutsideUnitOfWork, sqlOutsideRepos, withoutComments,
  type Finding, type ImportGraph,
} from '../../scripts/lib/architecture';

// The checker behind scripts/check-architecture.ts, first on graphs and trees made here, then on
// the real src/.

const SRC = resolve(__dirname, '..', '..', 'src');

/** A graph of folder pairs, one import each: ['ledger', 'tiers'] is src/ledger/a.ts importing ../tiers/a. */
const graph = (...pairs: [string, string][]): ImportGraph => ({
  files: [],
  imports: pairs.map(([from, to], i) => ({ file: `src/${from}/a.ts`, line: i + 1, text: `import { x } from '../${to}/a';`, from, to })),
});

describe('folderCycles', () => {
  test.each<[string, ImportGraph, string[][]]>([
    ['layers that only point down have no cycle', graph(['graphql', 'ledger'], ['ledger', 'db'], ['graphql', 'db'], ['ledger', 'errors.ts']), []],
    ['two folders importing each other', graph(['ledger', 'tiers'], ['tiers', 'ledger'], ['ledger', 'db']), [['ledger -> tiers -> ledger']]],
    ['three folders in a ring, written from the first by name', graph(['tiers', 'members'], ['members', 'ledger'], ['ledger', 'tiers']),
      [['ledger -> tiers -> members -> ledger']]],
    // A file importing its neighbour is the folder's own business, not a cycle between folders.
    ['a folder importing itself', graph(['ledger', 'ledger'], ['ledger', 'db']), []],
    ['two separate cycles are two components', graph(['a', 'b'], ['b', 'a'], ['c', 'd'], ['d', 'c'], ['b', 'c']),
      [['a -> b -> a'], ['c -> d -> c']]],
    ['every edge of a component lies on some path', graph(['a', 'b'], ['b', 'a'], ['b', 'c'], ['c', 'a']),
      [['a -> b -> a', 'a -> b -> c -> a']]],
  ])('%s', (_name, g, expected) => {
    expect(folderCycles(g).map((c) => c.paths)).toEqual(expected);
  });

  test('each edge of a cycle comes with its imports as examples, at most three', () => {
    const [cycle] = folderCycles(graph(['ledger', 'tiers'], ['ledger', 'tiers'], ['ledger', 'tiers'], ['ledger', 'tiers'], ['tiers', 'ledger']));
    expect(cycle!.edges.map((e) => [e.from, e.to, e.count, e.examples.length])).toEqual([['ledger', 'tiers', 4, 3], ['tiers', 'ledger', 1, 1]]);
    expect(cycle!.edges[1]!.examples).toEqual(["src/tiers/a.ts:5: import { x } from '../ledger/a';"]);
  });
});

let scratch: string;
beforeAll(() => { scratch = mkdtempSync(join(tmpdir(), 'architecture-')); });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh src/ holding the given files; returns its path. */
let trees = 0;
function tree(files: Record<string, string>): string {
  const src = join(scratch, `tree-${++trees}`, 'src');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), text);
  }
  return src;
}

const where = (findings: Finding[]) => findings.map((f) => `${f.file}:${f.line}`);

describe('importGraph', () => {
  test('import type counts, a file directly in src/ is a folder of its own, comments and packages do not count', () => {
    const src = tree({
      'ledger/ledger.service.ts': [
        "import type { Tier } from '../tiers/tiers.types';",
        "import { AppError } from '../errors';",
        "import { rules } from './ledger.rules';",
        "import { Kysely } from 'kysely';",
        "// import { old } from '../members/members.repo';",
        "export { rules } from './ledger.rules';",
      ].join('\n'),
      'ledger/ledger.rules.ts': 'export const rules = 1;',
      'tiers/tiers.types.ts': "export type Tier = import('../ledger/ledger.rules').Rules;",
      'errors.ts': 'export class AppError {}',
      'generated/types.ts': "import '../ledger/ledger.rules';",
    });
    const { files, imports } = importGraph(src);
    expect(files).not.toContain('src/generated/types.ts');
    expect(imports.map((i) => `${i.file}:${i.line} ${i.from} -> ${i.to}`)).toEqual([
      'src/ledger/ledger.service.ts:1 ledger -> tiers',
      'src/ledger/ledger.service.ts:2 ledger -> errors.ts',
      'src/ledger/ledger.service.ts:3 ledger -> ledger',
      'src/ledger/ledger.service.ts:6 ledger -> ledger',
      'src/tiers/tiers.types.ts:1 tiers -> ledger',
    ]);
    expect(folderCycles(importGraph(src)).map((c) => c.paths)).toEqual([['ledger -> tiers -> ledger']]);
  });
});

describe('sqlOutsideRepos', () => {
  test.each<[string, string, string, number[]]>([
    ['a repository may build SQL', 'members/members.repo.ts', "db.selectFrom('members').selectAll();", []],
    ['so may anything under db/', 'db/batch.ts', "await sql`select 1`.execute(db);", []],
    ['a service may not', 'members/members.service.ts', "const x = 1;\nawait db.selectFrom('members').selectAll().execute();", [2]],
    ['a builder call split over lines is reported where the call is', 'jobs/expiry.ts', "await tx\n  .deleteFrom('rate_limits')\n  .execute();", [2]],
    ['a typed sql template', 'ledger/verify.ts', 'const r = await sql<{ id: string; n: number }>`select id, 1 as n from members`.execute(db);', [1]],
    ['sql.raw', 'clock/clock.ts', "await sql.raw('vacuum').execute(db);", [1]],
    ['two on one line are one finding', 'ledger/verify.ts', 'const w = a ? sql`true` : sql`id > ${a}`;', [1]],
    // Comments mentioning a query (say, why it moved to the repository) are not SQL.
    ['comments do not count', 'ledger/ledger.service.ts', "// was: db.selectFrom('orders')\n/* sql`select 1` and\n   sql.raw('x') */\nconst x = 1; // not sql`here`", []],
    // A `//` inside a string is not a comment, so what follows it on the line is still code.
    ['a // inside a string hides nothing', 'tiers/tiers.service.ts', "const u = 'http://x'; db.selectFrom('tiers');", [1]],
    ['other names that merely contain sql', 'graphql/selection.ts', 'const mysql = 1; const sqlText = `select`;', []],
  ])('%s', (_name, path, text, lines) => {
    expect(where(sqlOutsideRepos(tree({ [path]: text })))).toEqual(lines.map((l) => `src/${path}:${l}`));
  });
});

describe('ledgerWritesOutsideUnitOfWork', () => {
  test.each<[string, string, string, number[]]>([
    ['the unit of work may write the ledger', 'ledger/unit-of-work.repo.ts', "db.insertInto('points_transactions').values(row);", []],
    // Being a repository is not enough: one file owns these writes.
    ['another repository may not', 'ledger/ledger.repo.ts', "q.insertInto('point_lots').values(lots);\nq.insertInto(\"lot_allocations\");", [1, 2]],
    ['nor may updateTable on point_lots, alias or not', 'tiers/tiers.repo.ts', "db.updateTable('point_lots').set(x);\ndb.updateTable('point_lots as l');", [1, 2]],
    ['raw SQL in any case, over lines, qualified or quoted', 'ledger/redeem.repo.ts',
      'sql`\n  INSERT INTO\n    points_transactions (id)\n  values (1);\n  update public.point_lots set remaining = 0;\n  insert into "lot_allocations" (id)`', [2, 5, 6]],
    ['other tables are not the ledger', 'ledger/purchases.service.ts', "tx.insertInto('orders');\nsql`update point_lots_archive set x = 1`;\ntx.selectFrom('point_lots');", []],
    ['comments do not count', 'ledger/ledger.service.ts', "// moved: insert into point_lots happens in the unit of work\n/** updateTable('point_lots') */\nexport {};", []],
  ])('%s', (_name, path, text, lines) => {
    expect(where(ledgerWritesOutsideUnitOfWork(tree({ [path]: text })))).toEqual(lines.map((l) => `src/${path}:${l}`));
  });
});

test('withoutComments keeps positions: same length, same line breaks', () => {
  const text = "a(); // one\n/* two\n three */ b('//', `/* ${c} */`);\n";
  const out = withoutComments(text);
  expect(out.length).toBe(text.length);
  expect(out.split('\n').map((l) => l.trimEnd())).toEqual(['a();', '', "          b('//', `/* ${c} */`);", '']);
});

// The layering the refactor is heading for; these fail until it lands, and name what is left.
describe('src/', () => {
  test('no two top-level folders import each other, directly or around a circle', () => {
    expect(folderCycles(importGraph(SRC)).map(describeCycle)).toEqual([]);
  });

  test('SQL is built only under src/db/ and in *.repo.ts files', () => {
    expect(sqlOutsideRepos(SRC).map(describeFinding)).toEqual([]);
  });

  test('only src/ledger/unit-of-work.repo.ts writes points_transactions, point_lots and lot_allocations', () => {
    expect(ledgerWritesOutsideUnitOfWork(SRC).map(describeFinding)).toEqual([]);
  });
});
