/**
 * Load generation: one autocannon run per operation with every request built on the fly
 * (random member, unique orderId / idempotency key, rotating caller token), and every
 * response body checked: a GraphQL `errors` entry or a non-2xx status is a failure and does
 * not count as throughput. Also the database ceiling D, measured from a plain pg Pool.
 */
import autocannon from 'autocannon';
import { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { machineShare, metered, perRequest, type CpuMeter, type CpuPerRequest, type MachineShare } from './cpu-meter';

/** A latency-like figure's 99th percentile and worst, ms. */
export interface Extremes {
  p99: number;
  max: number;
}

export interface OpFigures {
  /** Successful requests per second (failures excluded). */
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  ok: number;
  failures: number;
  /** Requests actually completed, successful or not. */
  total: number;
  /** A few distinct error codes/messages seen, for the report. */
  errorSamples: string[];
  /** For rate-limited runs: the offered rate. */
  offeredRate?: number;
  /**
   * For paced runs (bench-paced.ts): how late the load generator sent its requests (ms). Each
   * request's latency is counted from when it was due, so this lag is inside it.
   */
  dispatchLag?: Extremes;
  /** For paced runs: the machine's own stalls over the run, from an idle process (hiccups.ts). */
  machineStalls?: Extremes;
  /** For the webhook operation: how long the deliveries left over at the end of the run took to drain (its rps counts it in). */
  drainMs?: number;
  /** For medians over rounds: each round's req/s, in order. */
  rounds?: number[];
  /** For medians over paced rounds: each round's p99, in order. */
  p99Rounds?: number[];
  /** CPU time per completed request (cpu-meter.ts); for D, `apiUs` is the load client's (and `clientUs` too). */
  cpu?: CpuPerRequest;
  /** How the whole machine's CPU time went over the run: a slow round with much stolen is the host's. */
  machine?: MachineShare;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const extremesMedian = (pairs: Extremes[]): Extremes => ({ p99: median(pairs.map((p) => p.p99)), max: median(pairs.map((p) => p.max)) });

/** One figure per operation from several rounds: medians of rate and latencies, sums of counts. */
export function medianOf(runs: OpFigures[]): OpFigures {
  if (runs.length === 0) throw new Error('medianOf needs at least one run');
  return {
    rps: round(median(runs.map((r) => r.rps))),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    mean: round(median(runs.map((r) => r.mean))),
    ok: runs.reduce((sum, r) => sum + r.ok, 0),
    failures: runs.reduce((sum, r) => sum + r.failures, 0),
    total: runs.reduce((sum, r) => sum + r.total, 0),
    errorSamples: [...new Set(runs.flatMap((r) => r.errorSamples))].slice(0, 5),
    rounds: runs.map((r) => r.rps),
    ...(runs[0]?.offeredRate ? { offeredRate: runs[0].offeredRate } : {}),
    ...(runs.every((r) => r.dispatchLag) ? { dispatchLag: extremesMedian(runs.map((r) => r.dispatchLag as Extremes)) } : {}),
    ...(runs.every((r) => r.machineStalls) ? { machineStalls: extremesMedian(runs.map((r) => r.machineStalls as Extremes)) } : {}),
    ...(runs.some((r) => r.offeredRate) ? { p99Rounds: runs.map((r) => r.p99) } : {}),
    ...(runs.every((r) => r.machine) ? { machine: machineMedian(runs.map((r) => r.machine as MachineShare)) } : {}),
    ...(runs.every((r) => r.cpu) ? {
      cpu: {
        apiUs: medianOrNull(runs.map((r) => r.cpu?.apiUs ?? null)),
        dbUs: medianOrNull(runs.map((r) => r.cpu?.dbUs ?? null)),
        clientUs: medianOrNull(runs.map((r) => r.cpu?.clientUs ?? null)),
      },
    } : {}),
  };
}

const machineMedian = (shares: MachineShare[]): MachineShare => ({
  busyPercent: median(shares.map((m) => m.busyPercent)),
  idlePercent: median(shares.map((m) => m.idlePercent)),
  stealPercent: median(shares.map((m) => m.stealPercent)),
});

const medianOrNull = (values: (number | null)[]) => (values.every((v): v is number => v !== null) ? median(values) : null);

export interface Operation {
  name: string;
  label: string;
  /** Builds one request body. */
  body: () => unknown;
  /** Runs each measured run of the operation against the server at `url` inside a setting of its own (earning rules off, say). */
  around?: <T>(url: string, run: () => Promise<T>) => Promise<T>;
}

/** Runs `run` for `op` against `url`, inside the operation's own setting where it has one. */
export function within<T>(op: Operation, url: string, run: () => Promise<T>): Promise<T> {
  return op.around ? op.around(url, run) : run();
}

export interface LoadOptions {
  url: string;
  connections: number;
  duration: number;
  tokens: string[];
  /** Requests per second over all connections (autocannon overallRate); unset: as fast as possible. */
  overallRate?: number;
  /** Meters CPU time per request when given. */
  meter?: CpuMeter;
}

export async function runOperation(op: Operation, options: LoadOptions): Promise<OpFigures> {
  let ok = 0;
  let failures = 0;
  const samples = new Map<string, number>();
  let tokenIndex = 0;
  const fail = (reason: string) => {
    failures++;
    samples.set(reason, (samples.get(reason) ?? 0) + 1);
  };
  const before = options.meter?.read();
  const result = await autocannon({
    url: `${options.url}/graphql`,
    connections: options.connections,
    duration: options.duration,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => ({
          ...req,
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${options.tokens[tokenIndex++ % options.tokens.length]}`,
          },
          body: JSON.stringify(op.body()),
        }),
        onResponse: (status, body) => {
          if (status < 200 || status >= 300) {
            fail(`HTTP ${status}${errorCode(body)}`);
            return;
          }
          const code = errorCode(body);
          if (code) fail(code.trim());
          else ok++;
        },
      },
    ],
  });
  const after = options.meter?.read();
  const total = ok + failures;
  return {
    rps: round(ok / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: round(result.latency.average),
    ok,
    failures: failures + result.errors,
    total: total + result.errors,
    errorSamples: [...samples.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, n]) => `${k} ×${n}`)
      .concat(result.errors ? [`connection errors ×${result.errors}`] : []),
    ...(options.overallRate ? { offeredRate: options.overallRate } : {}),
    ...(before && after ? metered(before, after, total + result.errors) : {}),
  };
}

/** '' when the body holds no GraphQL errors, else ' CODE: message' of the first one. */
export function errorCode(body: string): string {
  if (!body.includes('"errors"')) return '';
  try {
    const parsed = JSON.parse(body) as { errors?: { message?: string; extensions?: { code?: string } }[] };
    const first = parsed.errors?.[0];
    if (!first) return '';
    return ` ${first.extensions?.code ?? 'ERROR'}: ${(first.message ?? '').slice(0, 80)}`;
  } catch {
    return ' unparseable body';
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * D: the least SQL an earn needs — UPDATE the member's aggregate and INSERT one ledger row in
 * one transaction — from `connections` workers over a plain pg Pool of that size. The rows are
 * tagged and removed afterwards (aggregates restored), so the ledger stays consistent.
 */
export async function databaseCeiling(databaseUrl: string, memberIds: string[], connections: number, duration: number, meter?: CpuMeter): Promise<OpFigures> {
  const pool = new Pool({ connectionString: databaseUrl, max: connections });
  const actor = `bench:ceiling:${randomUUID()}`;
  const latencies: number[] = [];
  let failures = 0;
  const deadline = Date.now() + duration * 1000;
  const before = meter?.read();
  const clientBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const worker = async () => {
    const client = await pool.connect();
    try {
      while (Date.now() < deadline) {
        const memberId = memberIds[Math.floor(Math.random() * memberIds.length)] as string;
        const t0 = process.hrtime.bigint();
        try {
          await client.query('begin');
          await client.query('update members set lifetime_earned = lifetime_earned + $1, updated_at = now() where id = $2', [1, memberId]);
          await client.query(
            `insert into points_transactions (id, member_id, type, points, qualifying_points, available_at, description, actor, occurred_at, created_at)
             values ($1, $2, 'EARN', 1, 1, now(), 'bench ceiling', $3, now(), now())`,
            [randomUUID(), memberId, actor],
          );
          await client.query('commit');
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch {
          failures++;
          await client.query('rollback').catch(() => undefined);
        }
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Read while the pool's backends are still alive; the client is this process.
  const after = meter?.read();
  const client = process.cpuUsage(clientBefore);
  const done = latencies.length + failures;
  // The tagged rows are referenced by nothing; skipping the FK triggers avoids one unindexed
  // scan of point_lots/orders/refunds per deleted row.
  const cleaner = await pool.connect();
  await cleaner.query('begin');
  await cleaner.query('set local session_replication_role = replica').catch(() => undefined);
  await cleaner.query(`with d as (delete from points_transactions where actor = $1 returning member_id, points)
    update members m set lifetime_earned = m.lifetime_earned - s.total
    from (select member_id, sum(points)::int as total from d group by member_id) s where m.id = s.member_id`, [actor]);
  await cleaner.query('commit');
  cleaner.release();
  await pool.end();
  latencies.sort((a, b) => a - b);
  const mean = latencies.reduce((s, x) => s + x, 0) / Math.max(latencies.length, 1);
  const machine = before && after ? machineShare(before.machine ?? null, after.machine ?? null) : null;
  return {
    rps: round(latencies.length / seconds),
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    mean: round(mean),
    ok: latencies.length,
    failures,
    total: done,
    errorSamples: [],
    ...(before && after ? { cpu: { apiUs: Math.round((client.user + client.system) / Math.max(done, 1)), dbUs: perRequest(before, after, done).dbUs } } : {}),
    ...(machine ? { machine } : {}),
  };
}
