/**
 * npm run bench -- [--connections 20] [--duration 10] [--rounds 5] [--members 10000]
 *                  [--scale 1000000] [--seed 1] [--port 4100] [--profile] [--working-tree]
 *                  [--no-half-rate] [--compare <git ref>] [--keep-data]
 *                  [--server-env KEY=VALUE …] [--compare-env KEY=VALUE …] [--out FILE.json]
 *
 * Benchmarks Milepost against PostgreSQL (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/milepost_bench; created and seeded when short of members,
 * and, when named milepost_bench… and of up to 100,000 members, dropped and seeded afresh every
 * run unless --keep-data).
 * Every figure comes from the same run on the same machine, so the ratios are what to compare:
 * C = a plain Apollo Server + Express service answering `{ hello }` (lib/plain-apollo.ts, no
 * Milepost code, started on --port + 3: the GraphQL ceiling), against which Milepost's
 * `{ __typename }` with a token weighs the cost of every request; the operations are weighed
 * against Milepost's own `{ now }`; D = the minimal earn SQL from a plain pg Pool (the
 * database ceiling). Operations run in interleaved rounds (C, `{ __typename }`, `{ now }`,
 * balance, purchase, … then again),
 * and each figure is the median over the rounds, so a slow spell on a shared machine moves one
 * round of every operation rather than every round of one. With --scale N a second server on
 * --port + 1 serves the N-member database (…_N), and each operation runs on both servers back to
 * back, so the two sizes share the same spells. --compare REF does the same with the code at REF
 * (on --port + 2, same database): a before/after measured in one run, the half-rate runs
 * included (both builds at the rates this build's maxima set, turn about). --server-env sets the
 * environment of the servers under test (DB_POOL_SIZE=20, say; the database is DATABASE_URL's),
 * --compare-env that of the compare server on top, so `--compare HEAD --compare-env
 * DB_POOL_SIZE=10` weighs a setting in one run. The API is built from the committed tree (HEAD)
 * unless --working-tree. On Linux with PostgreSQL on this machine, each figure also
 * carries the CPU time per request of the API process and of PostgreSQL (lib/cpu-meter.ts).
 * Then each operation runs at half its measured maximum with evenly spaced arrivals
 * (lib/bench-paced.ts) for p50/p99, beside the machine's own stalls over the same window
 * (lib/hiccups.ts), median of the same rounds.
 * Writes bench-results/latest.json and chart.svg (a --compare run: compare-REF.json and .svg;
 * --out names the file), prints a table, then runs verify-ledger on every database
 * written to.
 */
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildService, envAssignments, startPlainApollo, startServer, type RunningServer } from './lib/bench-server';
import { databaseCeiling, medianOf, runOperation, within, type OpFigures, type Operation } from './lib/bench-load';
import { CEILING, DEFAULT_URL, operations, prepareDatabase, resultFiles, sampleMembers, serverSettings, tokens, turnOrder, withDatabase, type Sample } from './lib/bench-ops';
import { runPaced } from './lib/bench-paced';
import { startStallMeter } from './lib/hiccups';
import { summariseProfile } from './lib/cpuprofile';
import { cpuBudget, cpuMeter, isLocalDatabase } from './lib/cpu-meter';

const ROOT = resolve(__dirname, '..');
const RESULTS = join(ROOT, 'bench-results');
/** Unmeasured load on a server before each measured run when several servers take turns. */
const WARM_SECONDS = 2;
/** Databases up to this many members are seeded afresh for every run (unless --keep-data). */
const FRESH_UP_TO = 100_000;

/** API + PostgreSQL CPU microseconds per request, when both were metered. */
const cpuOf = (fig: OpFigures) => (fig.cpu?.apiUs != null && fig.cpu.dbUs != null ? fig.cpu.apiUs + fig.cpu.dbUs : null);

const ALL = ['hello', 'typename', 'now', 'balance', 'recordPurchase', 'redeemPoints', 'statement', 'quoteEarn', 'recordPurchaseNoRules', 'redeemReward', 'redeemRewardStock', 'recordPurchaseWebhook'];

/** Operations measured on a --compare build too: those an older build serves. */
const COMPARED = ['typename', 'now', 'balance', 'recordPurchase', 'redeemPoints', 'statement'];

/** Operations measured again at --scale members. */
const SCALED = ['now', 'balance', 'statement', 'recordPurchase', 'redeemPoints'];

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);

function table(rows: [string, OpFigures][]): string {
  const head = `${'operation'.padEnd(30)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'failures'.padStart(9)} ${'API µs/req'.padStart(11)} ${'DB µs/req'.padStart(10)} ${'load µs/req'.padStart(12)}`;
  const us = (v: number | null | undefined) => (v == null ? '-' : String(v));
  const lines = rows.map(([label, f]) =>
    `${label.padEnd(30)} ${f.rps.toFixed(1).padStart(9)} ${String(f.p50).padStart(8)} ${String(f.p99).padStart(8)} ${String(f.failures).padStart(9)} ${us(f.cpu?.apiUs).padStart(11)} ${us(f.cpu?.dbUs).padStart(10)} ${us(f.cpu?.clientUs).padStart(12)}`);
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}

/**
 * The time of day in UTC, as PostgreSQL's log stamps it: a run's start beside its figures, so a
 * slow round can be set against what the server logged then (a checkpoint, say).
 */
const clockTime = () => new Date().toISOString().slice(11, 19);

/** The machine's busy and stolen share over a run, for the progress lines ('' where unread). */
function machineNote(figures: OpFigures): string {
  return figures.machine ? ` (machine ${figures.machine.busyPercent} % busy, ${figures.machine.stealPercent} % stolen)` : '';
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '20' },
      duration: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '5' },
      members: { type: 'string', default: '10000' },
      scale: { type: 'string' },
      seed: { type: 'string', default: '1' },
      port: { type: 'string', default: '4100' },
      profile: { type: 'boolean', default: false },
      'working-tree': { type: 'boolean', default: false },
      compare: { type: 'string' },
      'no-half-rate': { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true, default: [] },
      'compare-env': { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
    },
  });
  const connections = Number(values.connections);
  const duration = Number(values.duration);
  const rounds = Number(values.rounds);
  const members = Number(values.members);
  const scale = values.scale ? Number(values.scale) : null;
  const seed = Number(values.seed);
  const port = Number(values.port);
  if (![connections, duration, rounds, members, port].every((n) => Number.isInteger(n) && n > 0)) throw new Error('numeric flags must be positive integers');
  if (duration > 15) throw new Error('--duration is capped at 15 s per run');
  const serverEnv = envAssignments(values['server-env'] as string[], '--server-env');
  const compareEnv = envAssignments(values['compare-env'] as string[], '--compare-env');
  // The main and scale servers each serve their own database.
  if ('DATABASE_URL' in serverEnv) throw new Error('--server-env cannot set DATABASE_URL: set it for the bench itself');
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_URL;
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error('bench needs a PostgreSQL DATABASE_URL');

  // A small database is seeded afresh every run (seconds); a large one is reused, and a run's
  // writes spread over its members move it little.
  // Only a database named as the bench names its own is ever dropped.
  const ownDatabase = decodeURIComponent(new URL(databaseUrl).pathname.slice(1)).startsWith('milepost_bench');
  await prepareDatabase(databaseUrl, members, seed, { fresh: members <= FRESH_UP_TO && ownDatabase && !values['keep-data'] });
  const appDir = buildService(values['working-tree'] as boolean);
  const compareRef = values.compare as string | undefined;
  const files = resultFiles(RESULTS, values.out as string | undefined, compareRef);
  const compareDir = compareRef ? buildService(false, compareRef) : null;
  const compareLabel = compareRef ? [compareRef, ...Object.entries(compareEnv).map(([k, v]) => `${k}=${v}`)].join(' ') : null;
  const secret = randomBytes(32).toString('hex');
  const callerTokens = tokens(secret, 2000);
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const profileDir = values.profile ? join(RESULTS, 'profiles') : null;
  const started = new Date();
  // autovacuum off (as on a CI machine) leaves the dead rows a run writes in place for its length.
  const postgres = await serverSettings(databaseUrl);

  const localDatabase = isLocalDatabase(databaseUrl);
  interface Target { id: 'ceiling' | 'main' | 'scale' | 'compare'; label: string; server: RunningServer; sample: Sample; names: string[] }
  /**
   * Runs every target's operations in interleaved rounds. With --scale (or --compare) the
   * servers run side by side and each operation is measured on one right after the other, so a
   * slow spell on the machine lands on all of them rather than on one; which goes first
   * alternates from round to round (turnOrder).
   */
  const measure = async (targets: Target[]) => {
    const states = targets.map((t) => ({
      ...t,
      ops: t.id === 'ceiling' ? [CEILING] : operations(t.sample, `${runId}-${t.id}`, callerTokens[0] as string).filter((op) => t.names.includes(op.name)),
      meter: cpuMeter(t.server.child.pid ?? null, localDatabase),
      runs: {} as Record<string, OpFigures[]>,
    }));
    // Warm-up: JIT, connection pools, plan caches.
    for (const t of states) await runOperation(t.ops[0] as Operation, { url: t.server.url, connections, duration: 3, tokens: callerTokens });
    // Servers of Milepost taking turns on one PostgreSQL (the ceiling has no database).
    const servers = states.filter((t) => t.id !== 'ceiling').length;
    for (let round = 1; round <= rounds; round++) {
      console.log(`  round ${round}/${rounds}`);
      for (const name of ALL) {
        for (const t of turnOrder(states, round)) {
          const op = t.ops.find((o) => o.name === name);
          if (!op) continue;
          process.stdout.write(`    ${op.label}${servers > 1 && t.id !== 'ceiling' ? ` @ ${t.label}` : ''} … `);
          // With several servers, the one measured before may have filled PostgreSQL's shared
          // buffers with another database's pages: a short unmeasured run reads this one's back.
          const figures = await within(op, t.server.url, async () => {
            if (servers > 1) await runOperation(op, { url: t.server.url, connections, duration: WARM_SECONDS, tokens: callerTokens });
            process.stdout.write(`from ${clockTime()} `);
            return runOperation(op, { url: t.server.url, connections, duration, tokens: callerTokens, meter: t.meter });
          });
          (t.runs[name] ??= []).push(figures);
          console.log(`${figures.rps} req/s${figures.drainMs !== undefined ? ` (counting ${figures.drainMs} ms to drain its deliveries)` : ''}${machineNote(figures)}`);
        }
      }
    }
    return states.map((t) => ({
      id: t.id,
      ops: t.ops,
      figures: Object.fromEntries(t.ops.map((op) => [op.name, medianOf(t.runs[op.name] as OpFigures[])])) as Record<string, OpFigures>,
    }));
  };

  const sample = await sampleMembers(databaseUrl, 5000);
  if (sample.redeemable.length === 0) throw new Error('no member holds enough points to redeem');
  const scaleUrl = scale ? withDatabase(databaseUrl, `${decodeURIComponent(new URL(databaseUrl).pathname.slice(1))}_${scale}`) : null;
  if (scale && scaleUrl) await prepareDatabase(scaleUrl, scale, seed);
  console.log(`\nbenchmark at ${members} members${scale ? ` (and at ${scale}, interleaved)` : ''}, ${connections} connections, ${duration} s per run, ${rounds} rounds`);
  const server = await startServer({ appDir, databaseUrl, port, jwtSecret: secret, cpuProfileDir: profileDir, env: serverEnv });
  let ceilingServer: RunningServer | null = null;
  let scaleServer: RunningServer | null = null;
  let compareServer: RunningServer | null = null;
  let before: Awaited<ReturnType<typeof measure>>[number] | null = null;
  let main: Awaited<ReturnType<typeof measure>>[number];
  let large: Awaited<ReturnType<typeof measure>>[number] | null = null;
  const halfRate: Record<string, OpFigures> = {};
  /** The compare build's half-rate figures, at the same offered rates as this build's. */
  const halfRateBefore: Record<string, OpFigures> = {};
  let d: OpFigures;
  let ceiling: OpFigures;
  let profile: string | null = null;
  try {
    ceilingServer = await startPlainApollo(port + 3);
    const targets: Target[] = [
      { id: 'ceiling', label: 'plain Apollo', server: ceilingServer, sample, names: [CEILING.name] },
      { id: 'main', label: String(members), server, sample, names: ALL },
    ];
    if (scale && scaleUrl) {
      // Reads, and writes too, to see that neither slows as the data grows.
      scaleServer = await startServer({ appDir, databaseUrl: scaleUrl, port: port + 1, jwtSecret: secret, cpuProfileDir: null, env: serverEnv });
      targets.push({ id: 'scale', label: String(scale), server: scaleServer, sample: await sampleMembers(scaleUrl, 5000), names: SCALED });
    }
    if (compareRef && compareDir) {
      compareServer = await startServer({ appDir: compareDir, databaseUrl, port: port + 2, jwtSecret: secret, cpuProfileDir: null, env: { ...serverEnv, ...compareEnv } });
      targets.push({ id: 'compare', label: compareLabel as string, server: compareServer, sample, names: COMPARED });
    }
    const measured = await measure(targets);
    ceiling = (measured.find((m) => m.id === 'ceiling') as (typeof measured)[number]).figures[CEILING.name] as OpFigures;
    await ceilingServer.stop();
    ceilingServer = null;
    main = measured.find((m) => m.id === 'main') as (typeof measured)[number];
    large = measured.find((m) => m.id === 'scale') ?? null;
    before = measured.find((m) => m.id === 'compare') ?? null;
    await scaleServer?.stop();
    scaleServer = null;
    if (!values['no-half-rate']) {
      // Evenly spaced arrivals (bench-paced.ts), not autocannon's rate limit, which sends each
      // second's share back to back; the machine's own stalls are metered over the same window.
      console.log('p99 at half the measured maximum rate (evenly paced):');
      // With --compare, the build before runs at the same offered rates, turn about, so a
      // change aimed at the tail is weighed in the same run too.
      const pacedTargets = [
        { id: 'main', server, ops: main.ops, runs: {} as Record<string, OpFigures[]>, into: halfRate },
        ...(compareServer && before
          ? [{ id: 'compare', server: compareServer, ops: before.ops, runs: {} as Record<string, OpFigures[]>, into: halfRateBefore }]
          : []),
      ].map((t) => ({ ...t, meter: cpuMeter(t.server.child.pid ?? null, localDatabase) }));
      for (let round = 1; round <= rounds; round++) {
        console.log(`  round ${round}/${rounds}`);
        for (const name of main.ops.map((op) => op.name)) {
          const rate = Math.max(1, Math.floor((main.figures[name] as OpFigures).rps / 2));
          for (const t of turnOrder(pacedTargets, round)) {
            const op = t.ops.find((o) => o.name === name);
            if (!op) continue;
            const stallMeter = startStallMeter();
            await stallMeter.ready;
            const from = clockTime();
            const figures = await within(op, t.server.url, () => runPaced(op, { url: t.server.url, connections, duration, tokens: callerTokens, rate, meter: t.meter }));
            const stalls = await stallMeter.stop();
            (t.runs[name] ??= []).push({ ...figures, ...(stalls ? { machineStalls: stalls } : {}) });
            console.log(`    ${op.label}${pacedTargets.length > 1 ? ` @ ${t.id === 'main' ? 'this build' : compareLabel}` : ''} at ${rate} req/s from ${from}: p50 ${figures.p50} ms, p99 ${figures.p99} ms; machine stalls p99 ${stalls?.p99 ?? '-'} ms, max ${stalls?.max ?? '-'} ms${machineNote(figures)}`);
          }
        }
      }
      for (const t of pacedTargets) for (const [name, runs] of Object.entries(t.runs)) t.into[name] = medianOf(runs);
    }
    await compareServer?.stop();
    compareServer = null;
  } finally {
    await ceilingServer?.stop();
    await scaleServer?.stop();
    await compareServer?.stop();
    profile = await server.stop();
  }
  console.log('database ceiling D (plain pg Pool, minimal earn SQL) …');
  d = await databaseCeiling(databaseUrl, sample.all, connections, duration, cpuMeter(null, localDatabase));

  let scaling: Record<string, unknown> | null = null;
  if (scale && large) {
    const big = large;
    const pair = (name: string) => {
      const small = main.figures[name] as OpFigures;
      const fig = big.figures[name] as OpFigures;
      return {
        [members]: small, [scale]: fig,
        p50Ratio: ratio(fig.p50, small.p50), meanRatio: ratio(fig.mean, small.mean), p99Ratio: ratio(fig.p99, small.p99),
        rpsRatio: ratio(fig.rps, small.rps),
        cpuRatio: cpuOf(small) !== null && cpuOf(fig) !== null ? ratio(cpuOf(fig) as number, cpuOf(small) as number) : null,
      };
    };
    scaling = { small: members, large: scale, ...Object.fromEntries(SCALED.map((name) => [name, pair(name)])) };
  }

  const comparison = before && compareRef ? {
    ref: compareLabel,
    operations: Object.fromEntries(COMPARED.map((name) => {
      const was = (before as NonNullable<typeof before>).figures[name] as OpFigures;
      const now = main.figures[name] as OpFigures;
      const pacedBefore = halfRateBefore[name];
      const pacedAfter = halfRate[name];
      return [name, {
        before: was, after: now, rpsChange: ratio(now.rps, was.rps),
        cpuChange: cpuOf(was) !== null && cpuOf(now) !== null ? ratio(cpuOf(now) as number, cpuOf(was) as number) : null,
        halfRateP99: pacedBefore && pacedAfter ? { before: pacedBefore.p99, after: pacedAfter.p99, offeredRate: pacedAfter.offeredRate } : null,
      }];
    })),
  } : null;

  const f = main.figures as Record<string, OpFigures>;
  const C = ceiling;
  // The operations are weighed against Milepost's own cheapest request, `{ now }`; that and
  // `{ __typename }` against the plain Apollo service.
  const N = f.now as OpFigures;
  const ratios = {
    typenameOverC: ratio((f.typename as OpFigures).rps, C.rps),
    nowOverC: ratio(N.rps, C.rps),
    balanceOverNow: ratio((f.balance as OpFigures).rps, N.rps),
    recordPurchaseOverNow: ratio((f.recordPurchase as OpFigures).rps, N.rps),
    recordPurchaseOverD: ratio((f.recordPurchase as OpFigures).rps, d.rps),
    redeemPointsOverNow: ratio((f.redeemPoints as OpFigures).rps, N.rps),
    statementOverNow: ratio((f.statement as OpFigures).rps, N.rps),
    recordPurchaseRulesOverNone: ratio((f.recordPurchase as OpFigures).rps, (f.recordPurchaseNoRules as OpFigures).rps),
    quoteEarnOverBalance: ratio((f.quoteEarn as OpFigures).rps, (f.balance as OpFigures).rps),
    redeemRewardOverRedeemPoints: ratio((f.redeemReward as OpFigures).rps, (f.redeemPoints as OpFigures).rps),
    redeemRewardStockOverRedeemPoints: ratio((f.redeemRewardStock as OpFigures).rps, (f.redeemPoints as OpFigures).rps),
    recordPurchaseWebhookOverNone: ratio((f.recordPurchaseWebhook as OpFigures).rps, (f.recordPurchase as OpFigures).rps),
  };
  // CPU per request (API + PostgreSQL) relative to C's (the plain Apollo service's): the cost
  // ratio behind the req/s ratios, and far steadier than req/s on a shared machine.
  const cpuOverC = Object.fromEntries(Object.entries(f).map(([name, fig]) => {
    const mine = cpuOf(fig);
    const c = cpuOf(C);
    return [name, mine !== null && c !== null ? ratio(mine, c) : null];
  }));
  const budget = cpuBudget(f, N, cpus().length);
  const targets = [
    { target: '{ __typename } >= 0.75 x C (plain Apollo { hello })', value: ratios.typenameOverC, met: ratios.typenameOverC >= 0.75 },
    { target: 'balance >= 0.90 x { now }', value: ratios.balanceOverNow, met: ratios.balanceOverNow >= 0.9 },
    { target: 'recordPurchase >= 0.60 x { now }', value: ratios.recordPurchaseOverNow, met: ratios.recordPurchaseOverNow >= 0.6 },
    { target: 'redeemPoints >= 0.60 x { now }', value: ratios.redeemPointsOverNow, met: ratios.redeemPointsOverNow >= 0.6 },
    { target: 'recordPurchase with the seeded rules >= 0.80 x with none', value: ratios.recordPurchaseRulesOverNone, met: ratios.recordPurchaseRulesOverNone >= 0.8 },
    { target: 'quoteEarn >= 0.80 x balance', value: ratios.quoteEarnOverBalance, met: ratios.quoteEarnOverBalance >= 0.8 },
    { target: 'redeemReward >= 0.80 x redeemPoints', value: ratios.redeemRewardOverRedeemPoints, met: ratios.redeemRewardOverRedeemPoints >= 0.8 },
    { target: 'recordPurchase with one * webhook >= 0.85 x without', value: ratios.recordPurchaseWebhookOverNone, met: ratios.recordPurchaseWebhookOverNone >= 0.85 },
    ...Object.entries(halfRate).map(([name, h]) => ({ target: `${name} p99 < 50 ms at half max rate`, value: h.p99, met: h.p99 < 50 && h.failures === 0 })),
    ...(scaling ? ['balance', 'statement'].map((name) => {
      const p = (scaling as Record<string, { meanRatio: number }>)[name] as { meanRatio: number };
      return { target: `${name} mean latency at ${scale} <= 1.2 x at ${members}`, value: p.meanRatio, met: p.meanRatio <= 1.2 };
    }) : []),
  ];

  const verifyOn = (url: string) => {
    console.log(`\nverify-ledger on ${new URL(url).pathname.slice(1)} …`);
    const verify = spawnSync('npm', ['run', 'verify-ledger', '--silent', '--', '--quiet'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: url } });
    const output = `${verify.stdout ?? ''}${verify.stderr ?? ''}`.trim();
    return { exitCode: verify.status, ok: verify.status === 0, output: output.split('\n').slice(-3).join('\n') };
  };
  const verifyLedger = verifyOn(databaseUrl);
  // The scale run wrote too: its ledger must hold as well.
  const verifyScaled = scaleUrl ? verifyOn(scaleUrl) : null;

  const profileSummary = profile ? summariseProfile(profile, 25) : null;
  const result = {
    meta: {
      startedAt: started.toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model,
      memoryGb: Math.round(totalmem() / 2 ** 30), connections, durationSeconds: duration, rounds, members, seed,
      database: databaseUrl.replace(/\/\/[^@/]*@/, '//…@'), callerTokens: callerTokens.length, postgres,
      serverEnv: `NODE_ENV=production${Object.entries(serverEnv).map(([k, v]) => `, ${k}=${v}`).join('')}, defaults otherwise (DB_POOL_SIZE 10, DB_PIPELINED_CONNECTIONS 2, LOG_LEVEL info, rate limit on)`,
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
    },
    C: C.rps,
    D: d.rps,
    ceiling: C,
    operations: f,
    databaseCeiling: d,
    ratios,
    cpuPerRequestOverC: cpuOverC,
    cpuBudget: budget,
    halfRate,
    scaling,
    targets,
    verifyLedger,
    verifyLedgerAtScale: verifyScaled,
    comparison,
    profile: profile ? { file: profile, topSelfTime: profileSummary } : null,
  };
  mkdirSync(dirname(files.json), { recursive: true });
  writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
  spawnSync(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', join(__dirname, 'bench-chart.ts'), files.json, files.chart], { cwd: ROOT, stdio: 'inherit' });

  console.log(`\nMilepost benchmark: ${members} members, ${connections} connections, ${duration} s each, median of ${rounds} rounds, ${cpus().length} cores`);
  console.log(`PostgreSQL ${postgres.version}: ${Object.entries(postgres.settings).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(table([[CEILING.label, C], ...main.ops.map((op) => [op.label, f[op.name]] as [string, OpFigures]), ['D  database ceiling (pg Pool)', d]]));
  for (const [name, fig] of Object.entries(f)) if (fig.errorSamples.length) console.log(`  ${name} failures: ${fig.errorSamples.join('; ')}`);
  console.log(`\nratios: (0)/C ${ratios.typenameOverC}  (1)/C ${ratios.nowOverC}  (2)/(1) ${ratios.balanceOverNow}  (3)/(1) ${ratios.recordPurchaseOverNow}  (3)/D ${ratios.recordPurchaseOverD}  (4)/(1) ${ratios.redeemPointsOverNow}  (5)/(1) ${ratios.statementOverNow}  (3)/(7) ${ratios.recordPurchaseRulesOverNone}  (6)/(2) ${ratios.quoteEarnOverBalance}  (8)/(4) ${ratios.redeemRewardOverRedeemPoints}  (9)/(4) ${ratios.redeemRewardStockOverRedeemPoints}  (10)/(3) ${ratios.recordPurchaseWebhookOverNone}`);
  if (cpuOf(C) !== null) {
    console.log(`CPU per request (API + PostgreSQL) × C's: ${Object.entries(cpuOverC).map(([n, r]) => `${n} ${r}`).join('  ')}`);
  }
  if (Object.values(budget).some((b) => b.measured)) {
    console.log(`CPU budget (req/s × CPU per request; API thread of 1 core, API + PostgreSQL + load generator of ${cpus().length}):`);
    for (const [name, b] of Object.entries(budget)) {
      if (!b.measured) continue;
      const at = b.atTarget;
      const target = at ? `; at ${at.ratio} × { now } (${at.rate}/s): API ${at.apiCore}, all ${at.cores}${at.fits ? '' : ' (more than the machine has)'}` : '';
      console.log(`  ${name.padEnd(15)} ${b.measured.rate}/s: API ${b.measured.apiCore}, all ${b.measured.cores}${target}`);
    }
  }
  if (Object.keys(halfRate).length) {
    console.log('p99 at half max rate, evenly paced: ' + Object.entries(halfRate).map(([n, h]) => `${n} ${h.p99} ms @${h.offeredRate}/s (stalls max ${h.machineStalls?.max ?? '-'} ms)`).join(', '));
  }
  if (scaling) {
    for (const name of SCALED) {
      const p = scaling[name] as Record<string, OpFigures | number>;
      const small = p[members] as OpFigures;
      const big = p[scale as number] as OpFigures;
      console.log(`scaling ${name.padEnd(14)} ${members}: ${small.rps} req/s p50 ${small.p50} p99 ${small.p99} | ${scale}: ${big.rps} req/s p50 ${big.p50} p99 ${big.p99} | mean ×${p.meanRatio}`);
    }
  }
  if (comparison) {
    console.log(`\nbefore (${comparison.ref}) → after (this build), same run, same database:`);
    for (const [name, c] of Object.entries(comparison.operations)) {
      const tail = c.halfRateP99 ? `; p99 at ${c.halfRateP99.offeredRate}/s ${c.halfRateP99.before} → ${c.halfRateP99.after} ms` : '';
      console.log(`  ${name.padEnd(15)} ${c.before.rps} → ${c.after.rps} req/s (×${c.rpsChange}); CPU per request ×${c.cpuChange ?? '-'}${tail}`);
    }
  }
  console.log('\ntargets:');
  for (const t of targets) console.log(`  ${t.met ? 'MET   ' : 'MISSED'} ${t.target} (${t.value})`);
  for (const [label, v] of [[String(members), verifyLedger], [String(scale), verifyScaled]] as const) {
    if (v) console.log(`\nverify-ledger at ${label} members: ${v.ok ? 'OK' : `FAILED (exit ${v.exitCode})`}\n${v.output}`);
  }
  if (profileSummary) {
    console.log(`\nserver CPU profile ${profile}: top self time`);
    for (const row of profileSummary.slice(0, 15)) console.log(`  ${row.selfPercent.toFixed(1).padStart(5)}%  ${row.name}  ${row.location}`);
  }
  console.log(`\nwrote ${files.json}`);
  return verifyLedger.ok && (verifyScaled?.ok ?? true) ? 0 : 1;
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(2);
});
