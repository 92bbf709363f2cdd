/**
 * The layering rules of src/, read from the source text alone (no type checking, no build):
 * which top-level folders import each other in a circle, which files outside the repositories
 * build SQL, and which files other than the unit of work write the ledger's own tables.
 * Used by scripts/check-architecture.ts and test/unit/architecture.test.ts. Every function takes
 * the src directory and returns plain data; file names in it start with that directory's own name
 * (src/ledger/ledger.service.ts), so they read the same whatever the working directory.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import * as ts from 'typescript';

/** One import of one source file by another under the same root. */
export interface Import {
  /** The importing file, e.g. src/ledger/ledger.core.ts. */
  file: string;
  line: number;
  /** The import as written, on one line. */
  text: string;
  /** Top-level folder of the importer and of the imported file: `ledger`, or `errors.ts` for a file directly in src/. */
  from: string;
  to: string;
}

export interface ImportGraph {
  files: string[];
  imports: Import[];
}

export interface FolderEdge {
  from: string;
  to: string;
  /** How many imports make up the edge. */
  count: number;
  /** Up to three of them, `file:line: import`, from different files where there are. */
  examples: string[];
}

/** A strongly connected set of folders: each reaches every other through imports. */
export interface FolderCycle {
  folders: string[];
  /** For each edge inside the set, the shortest circle through it: `ledger -> tiers -> ledger`. */
  paths: string[];
  edges: FolderEdge[];
}

/** A line that breaks a rule. */
export interface Finding {
  file: string;
  line: number;
  /** What matched first on the line: `.selectFrom(`, `sql\``, `insert into point_lots`, … */
  match: string;
  /** The source line, trimmed. */
  code: string;
}

/** The one file allowed to write the ledger's tables, relative to the root. */
export const UNIT_OF_WORK = 'ledger/unit-of-work.repo.ts';

const EXAMPLES = 3;

/**
 * Every .ts file under rootDir, as absolute paths in a stable order. Generated code is left out
 * (a generated/ folder, or a generated.ts such as src/graphql/generated.ts): it is gitignored and
 * exists only once codegen has run, so the answer would otherwise depend on whether it had.
 */
export function sourceFiles(rootDir: string): string[] {
  const root = resolve(rootDir);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'generated') walk(path);
      } else if (entry.isFile() && entry.name.endsWith('.ts') && entry.name !== 'generated.ts') {
        out.push(path);
      }
    }
  };
  walk(root);
  return out;
}

/** The file's name as reported: the root's own name, then the path under it, with forward slashes. */
function label(root: string, path: string): string {
  return [basename(root), ...relative(root, path).split(sep)].join('/');
}

/** The top-level folder under the root holding a file; a file directly in the root is its own folder, named with its extension. */
export function folderOf(root: string, path: string): string {
  return relative(root, path).split(sep)[0]!;
}

/** Where a relative specifier leads, as TypeScript would resolve it; a file not there yet (generated code) is taken to be `<spec>.ts`. */
function resolveSpecifier(fromFile: string, spec: string): string {
  const base = resolve(dirname(fromFile), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}.d.ts`, join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? `${base}.ts`;
}

const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 159)}…` : flat;
};

/**
 * Every relative import between files under rootDir. Counted: `import` and `import type`,
 * `export … from`, `import x = require()`, `require()`, `import()` and `import('…').T` types.
 * A type-only import counts: it is still one folder knowing another's shapes, and a circle of
 * types is what keeps two folders from being moved or reasoned about apart.
 */
export function importGraph(rootDir: string): ImportGraph {
  const root = resolve(rootDir);
  const files = sourceFiles(root);
  const imports: Import[] = [];
  for (const path of files) {
    const text = readFileSync(path, 'utf8');
    const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const add = (specifier: ts.Node, shown: string) => {
      if (!ts.isStringLiteralLike(specifier) || !specifier.text.startsWith('.')) return;
      const target = resolveSpecifier(path, specifier.text);
      const rel = relative(root, target);
      if (rel.startsWith('..') || rel === '' || resolve(root, rel) !== target) return;
      const line = sf.getLineAndCharacterOfPosition(specifier.getStart(sf)).line + 1;
      imports.push({ file: label(root, path), line, text: oneLine(shown), from: folderOf(root, path), to: folderOf(root, target) });
    };
    const lineOf = (node: ts.Node) => {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
      return text.slice(sf.getLineStarts()[line], sf.getLineEndOfPosition(node.getStart(sf)));
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) || (ts.isExportDeclaration(node) && node.moduleSpecifier)) {
        add(node.moduleSpecifier!, node.getText(sf));
      } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
        add(node.moduleReference.expression, node.getText(sf));
      } else if (ts.isCallExpression(node) && node.arguments.length > 0
        && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
        add(node.arguments[0]!, lineOf(node));
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        add(node.argument.literal, lineOf(node));
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { files: files.map((f) => label(root, f)), imports };
}

/** The folder graph: one edge per ordered pair of folders with imports between them, a folder's imports of itself included. */
export function folderEdges(graph: ImportGraph): FolderEdge[] {
  const byPair = new Map<string, Import[]>();
  for (const imp of graph.imports) {
    const key = `${imp.from}\0${imp.to}`;
    byPair.set(key, [...(byPair.get(key) ?? []), imp]);
  }
  return [...byPair.entries()].map(([key, list]) => {
    const [from, to] = key.split('\0') as [string, string];
    const sorted = [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
    // One example per file first: three lines of the same file say less than three files.
    const firstOfFile = sorted.filter((imp, i) => i === 0 || sorted[i - 1]!.file !== imp.file);
    const picked = [...firstOfFile, ...sorted.filter((imp) => !firstOfFile.includes(imp))].slice(0, EXAMPLES);
    return { from, to, count: list.length, examples: picked.map((imp) => `${imp.file}:${imp.line}: ${imp.text}`) };
  }).sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}

/**
 * The folder cycles: Tarjan's strongly connected components of the folder graph, those of more
 * than one folder. A file importing another of its own folder is no cycle between folders.
 */
export function folderCycles(graph: ImportGraph): FolderCycle[] {
  const edges = folderEdges(graph).filter((e) => e.from !== e.to);
  const next = new Map<string, string[]>();
  for (const e of edges) {
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    if (!next.has(e.to)) next.set(e.to, []);
  }
  const nodes = [...next.keys()].sort();

  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const strongConnect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) strongConnect(v);

  return components.filter((c) => c.length > 1).map((folders) => {
    const inside = new Set(folders);
    const internal = edges.filter((e) => inside.has(e.from) && inside.has(e.to));
    const paths = new Set<string>();
    for (const e of internal) {
      // The way back from e.to to e.from, closed by e itself.
      paths.add(formatCircle(shortestPath(e.to, e.from, (v) => next.get(v)!.filter((w) => inside.has(w)))));
    }
    return { folders, paths: [...paths].sort((a, b) => a.split(' -> ').length - b.split(' -> ').length || a.localeCompare(b)), edges: internal };
  }).sort((a, b) => a.folders[0]!.localeCompare(b.folders[0]!));
}

/** Breadth-first: from, …, to; neighbours in name order so the answer is stable. */
function shortestPath(from: string, to: string, neighbours: (v: string) => string[]): string[] {
  const previous = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift()!;
    if (v === to) break;
    for (const w of [...neighbours(v)].sort()) {
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  const path: string[] = [];
  for (let v: string | null | undefined = to; v != null; v = previous.get(v)) path.unshift(v);
  return path;
}

/** A circle given as its folders in order, written from its first folder by name and back: `a -> b -> a`. */
function formatCircle(circle: string[]): string {
  const start = circle.indexOf([...circle].sort()[0]!);
  const rotated = [...circle.slice(start), ...circle.slice(0, start)];
  return [...rotated, rotated[0]].join(' -> ');
}

/**
 * The text with every comment blanked out, line breaks kept so positions still give the same
 * line. Comments are found as the trivia before each token of the parsed file, so a `//` inside a
 * string, a template or a regular expression is left alone, as is the SQL inside a template.
 */
export function withoutComments(text: string): string {
  const sf = ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const chars = text.split('');
  const blanked = new Set<number>();
  const visit = (node: ts.Node): void => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    const children = node.getChildren(sf);
    if (children.length > 0) {
      children.forEach(visit);
      return;
    }
    // Trivia ahead of a token: comments on the line it follows (trailing, in TypeScript's words), then the rest.
    for (const range of [...ts.getTrailingCommentRanges(text, node.pos) ?? [], ...ts.getLeadingCommentRanges(text, node.pos) ?? []]) {
      if (blanked.has(range.pos)) continue;
      blanked.add(range.pos);
      for (let i = range.pos; i < range.end; i++) if (chars[i] !== '\n' && chars[i] !== '\r') chars[i] = ' ';
    }
  };
  visit(sf);
  return chars.join('');
}

interface Rule { name: string; pattern: RegExp }

/** Each line of a file's code (comments aside) that some pattern matches, once per line. */
function scan(rootDir: string, include: (relPath: string) => boolean, rules: Rule[]): Finding[] {
  const root = resolve(rootDir);
  const findings: Finding[] = [];
  for (const path of sourceFiles(root)) {
    if (!include(relative(root, path).split(sep).join('/'))) continue;
    const original = readFileSync(path, 'utf8');
    const code = withoutComments(original);
    const lines = original.split('\n');
    const starts = [0];
    for (let i = 0; i < code.length; i++) if (code[i] === '\n') starts.push(i + 1);
    const lineAt = (pos: number) => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= pos) lo = mid; else hi = mid - 1;
      }
      return lo + 1;
    };
    const hits = new Map<number, { pos: number; match: string }>();
    for (const rule of rules) {
      for (const m of code.matchAll(rule.pattern)) {
        const line = lineAt(m.index!);
        const seen = hits.get(line);
        if (!seen || m.index! < seen.pos) hits.set(line, { pos: m.index!, match: rule.name === '' ? oneLine(m[0]) : rule.name });
      }
    }
    for (const [line, hit] of [...hits.entries()].sort((a, b) => a[0] - b[0])) {
      findings.push({ file: label(root, path), line, match: hit.match, code: oneLine(lines[line - 1] ?? '') });
    }
  }
  return findings;
}

const SQL_BUILDING: Rule[] = [
  { name: '.selectFrom(', pattern: /\.\s*selectFrom\s*\(/g },
  { name: '.insertInto(', pattern: /\.\s*insertInto\s*\(/g },
  { name: '.updateTable(', pattern: /\.\s*updateTable\s*\(/g },
  { name: '.deleteFrom(', pattern: /\.\s*deleteFrom\s*\(/g },
  // sql`…`, and sql<Row>`…` with its result type.
  { name: 'sql`', pattern: /(?<![\w$])sql\s*(?:<[^`]*?>)?\s*`/g },
  { name: 'sql.raw(', pattern: /(?<![\w$])sql\s*\.\s*raw\s*\(/g },
];

/**
 * Files that build SQL though they are neither under db/ nor a `*.repo.ts`: a Kysely builder
 * call, a sql`` template or sql.raw(). Text inside strings counts, comments do not.
 */
export function sqlOutsideRepos(rootDir: string): Finding[] {
  return scan(rootDir, (rel) => !rel.startsWith('db/') && !rel.endsWith('.repo.ts'), SQL_BUILDING);
}

const TABLE = String.raw`(?:"?public"?\s*\.\s*)?"?`;
const LEDGER_WRITES: Rule[] = [
  // The match itself is reported, so `insertInto('point_lots')` and `INSERT INTO lot_allocations` read as written.
  { name: '', pattern: /\binsertInto\s*\(\s*(['"`])(?:points_transactions|point_lots|lot_allocations)(?:\s+as\s+\w+)?\1\s*\)/gi },
  { name: '', pattern: /\bupdateTable\s*\(\s*(['"`])point_lots(?:\s+as\s+\w+)?\1\s*\)/gi },
  { name: '', pattern: new RegExp(String.raw`\binsert\s+into\s+${TABLE}(?:points_transactions|point_lots|lot_allocations)"?(?!\w)`, 'gi') },
  { name: '', pattern: new RegExp(String.raw`\bupdate\s+(?:only\s+)?${TABLE}point_lots"?(?!\w)`, 'gi') },
];

/**
 * Writes to the ledger's tables (points_transactions, point_lots, lot_allocations) anywhere but
 * the unit of work, through Kysely or in raw SQL, in any case. Repositories are not exempt: the
 * point is that one file owns these writes.
 */
export function ledgerWritesOutsideUnitOfWork(rootDir: string): Finding[] {
  return scan(rootDir, (rel) => rel !== UNIT_OF_WORK, LEDGER_WRITES);
}

export const describeFinding = (f: Finding) => `${f.file}:${f.line}  ${f.match}  | ${f.code}`;

export function describeCycle(cycle: FolderCycle): string {
  return [
    `{${cycle.folders.join(', ')}}`,
    ...cycle.paths.map((p) => `  ${p}`),
    ...cycle.edges.flatMap((e) => [`  ${e.from} -> ${e.to} (${e.count} import${e.count === 1 ? '' : 's'})`, ...e.examples.map((x) => `      ${x}`)]),
  ].join('\n');
}
