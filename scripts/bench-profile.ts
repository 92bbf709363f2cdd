/**
 * npm run bench:profile -- [--op now --op recordPurchase …] [--connections 20] [--duration 10]
 *                          [--members 10000] [--seed 1] [--port 4120] [--working-tree | --ref REF]
 *                          [--out FILE] [--keep DIR] [--server-env KEY=VALUE …]
 *
 * Where each operation's API time goes, by package, in microseconds per request. For every
 * operation in turn, a fresh API server (built as bench.ts builds it, NODE_ENV=production) runs
 * under V8's CPU profiler (--cpu-prof) while autocannon drives that operation alone, 3 s
 * unmeasured then --duration s measured with the CPU meter. The profile's busy samples taken
 * during the measured run, charged to packages and divided by the requests completed, give each
 * package's time per request, so two operations' columns can be subtracted: what a write spends
 * that `{ now }` does not. Samples are wall-clock, so the busy total also holds time the API
 * thread was preempted while busy; beside it stands the process's CPU time per request from
 * /proc, and the difference is that wait.
 *
 * --ref profiles another commit's build on the same database, for a build before and after a
 * change (a newer build than the database's migrates it forward, as it would at start);
 * --keep keeps each operation's .cpuprofile in DIR, for Chrome's DevTools or
 * scripts/lib/cpuprofile.ts summariseProfile.
 *
 * Runs on the database bench.ts uses (DATABASE_URL, default milepost_bench), created and seeded
 * when short of members; it does not reseed one that has enough, so run it on a freshly
 * benchmarked database for figures beside bench.ts's. Writes JSON (default
 * bench-results/profile-by-package.json) and prints the table. --server-env sets the servers'
 * environment (WEBHOOK_WORKERS=false, say).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runOperation, within, type OpFigures } from './lib/bench-load';
import { DEFAULT_URL, operations, prepareDatabase, sampleMembers, tokens } from './lib/bench-ops';
import { buildService, envAssignments, startServer } from './lib/bench-server';
import { cpuMeter, isLocalDatabase } from './lib/cpu-meter';
import { timeByPackage } from './lib/cpuprofile';

const ROOT = resolve(__dirname, '..');
/** The monotonic clock in µs, as V8 stamps profile samples (Linux: both read CLOCK_MONOTONIC). */
const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);
/** Rows of the table: the packages that cost most in any operation; the rest are summed. */
const TOP = 18;

interface Profiled {
  operation: string;
  figures: OpFigures;
  /** µs per request of the API thread's busy time, by package. */
  byPackage: Record<string, number>;
  /** Their sum: the API thread's busy wall time per request. */
  busyUs: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      op: { type: 'string', multiple: true, default: ['now', 'recordPurchase', 'redeemPoints'] },
      connections: { type: 'string', default: '20' },
      duration: { type: 'string', default: '10' },
      members: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      port: { type: 'string', default: '4120' },
      'working-tree': { type: 'boolean', default: false },
      ref: { type: 'string' },
      keep: { type: 'string' },
      'server-env': { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: join(ROOT, 'bench-results', 'profile-by-package.json') },
    },
  });
  const connections = Number(values.connections);
  const duration = Number(values.duration);
  const members = Number(values.members);
  const port = Number(values.port);
  if (![connections, duration, members, port].every((n) => Number.isInteger(n) && n > 0)) throw new Error('numeric flags must be positive integers');
  if (duration > 15) throw new Error('--duration is capped at 15 s per run');
  const env = envAssignments(values['server-env'] as string[], '--server-env');
  if ('DATABASE_URL' in env) throw new Error('--server-env cannot set DATABASE_URL: set it for the bench itself');
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_URL;
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error('bench:profile needs a PostgreSQL DATABASE_URL');
  await prepareDatabase(databaseUrl, members, Number(values.seed));
  const sample = await sampleMembers(databaseUrl, 5000);
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const secret = randomBytes(32).toString('hex');
  const callerTokens = tokens(secret, 2000);
  const all = operations(sample, `${runId}-profile`, callerTokens[0] as string);
  const wanted = values.op as string[];
  const unknown = wanted.filter((name) => !all.some((op) => op.name === name));
  if (unknown.length) throw new Error(`unknown operation ${unknown.join(', ')}: one of ${all.map((op) => op.name).join(', ')}`);
  if (values.ref && values['working-tree']) throw new Error('--ref and --working-tree exclude each other');
  const appDir = buildService(values['working-tree'] as boolean, values.ref ?? 'HEAD');
  const keep = values.keep ? resolve(values.keep) : null;
  if (keep) mkdirSync(keep, { recursive: true });

  const profiled: Profiled[] = [];
  for (const name of wanted) {
    const op = all.find((o) => o.name === name) as (typeof all)[number];
    const dir = mkdtempSync(join(tmpdir(), 'milepost-profile-'));
    const server = await startServer({ appDir, databaseUrl, port, jwtSecret: secret, cpuProfileDir: dir, env });
    let file: string | null = null;
    let figures: OpFigures;
    let measured: { from: number; to: number };
    try {
      ({ figures, measured } = await within(op, server.url, async () => {
        await runOperation(op, { url: server.url, connections, duration: 3, tokens: callerTokens });
        const from = monotonicMicros();
        const run = await runOperation(op, {
          url: server.url, connections, duration, tokens: callerTokens, meter: cpuMeter(server.child.pid ?? null, isLocalDatabase(databaseUrl)),
        });
        return { figures: run, measured: { from, to: monotonicMicros() } };
      }));
    } finally {
      file = await server.stop();
    }
    if (!file) throw new Error(`the server wrote no CPU profile for ${name}`);
    const apiUs = figures.cpu?.apiUs;
    if (apiUs == null) throw new Error('the API process\'s CPU time could not be read (Linux only)');
    const time = timeByPackage(file, measured);
    if (time.size === 0) throw new Error('no profile sample fell inside the measured run: the profiler\'s clock is not this process\'s (Linux only)');
    const perRequest = (us: number) => Math.round((us / Math.max(figures.total, 1)) * 10) / 10;
    const byPackage = Object.fromEntries([...time].map(([pkg, us]) => [pkg, perRequest(us)]));
    const busyUs = perRequest([...time.values()].reduce((sum, us) => sum + us, 0));
    if (keep) copyFileSync(file, join(keep, `${name}.cpuprofile`));
    rmSync(dir, { recursive: true, force: true });
    profiled.push({ operation: name, figures, byPackage, busyUs });
    console.log(`${name}: ${figures.rps} req/s; per request: API busy ${busyUs} µs (CPU ${apiUs}), PostgreSQL ${figures.cpu?.dbUs ?? '-'} µs, load generator ${figures.cpu?.clientUs ?? '-'} µs`);
  }

  const packages = [...new Set(profiled.flatMap((p) => Object.keys(p.byPackage)))];
  const peak = (pkg: string) => Math.max(...profiled.map((p) => p.byPackage[pkg] ?? 0));
  const rows = packages.sort((a, b) => peak(b) - peak(a)).slice(0, TOP);
  const cell = (v: number) => String(Math.round(v)).padStart(15);
  console.log(`\nAPI thread's busy time per request by package, µs (${connections} connections, ${duration} s each)`);
  console.log(`${'package'.padEnd(28)}${profiled.map((p) => p.operation.padStart(15)).join('')}`);
  for (const pkg of rows) console.log(`${pkg.padEnd(28)}${profiled.map((p) => cell(p.byPackage[pkg] ?? 0)).join('')}`);
  const rest = (p: Profiled) => Object.entries(p.byPackage).filter(([pkg]) => !rows.includes(pkg)).reduce((sum, [, v]) => sum + v, 0);
  console.log(`${'(everything else)'.padEnd(28)}${profiled.map((p) => cell(rest(p))).join('')}`);
  console.log(`${'busy, in all'.padEnd(28)}${profiled.map((p) => cell(p.busyUs)).join('')}`);
  console.log(`${'API CPU time (/proc)'.padEnd(28)}${profiled.map((p) => cell(p.figures.cpu?.apiUs ?? 0)).join('')}`);

  const out = values.out as string;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ startedAt: new Date().toISOString(), connections, durationSeconds: duration, members, operations: profiled }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
  return 0;
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(`bench:profile failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(2);
});
