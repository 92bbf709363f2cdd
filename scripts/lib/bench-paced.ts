/**
 * An open-loop load at a constant arrival rate, for latency at a given rate.
 *
 * autocannon's rate limit (overallRate) is per connection per second: each connection sends
 * back to back until it has made its share of the second, then waits for the next tick. At half
 * the maximum rate that is the full load for half of each second and nothing for the rest, so
 * its p99 is a saturated p99. Here request k is due at start + k / rate, whatever happened to
 * the ones before it, and its latency runs from when it was due (not when a socket was free),
 * so a server that falls behind is charged for the wait it causes (no coordinated omission).
 */
import { Agent, request } from 'node:http';
import type { Operation, OpFigures } from './bench-load';
import { errorCode } from './bench-load';
import { metered, type CpuMeter } from './cpu-meter';

export interface PacedOptions {
  url: string;
  /** Requests per second, evenly spaced. */
  rate: number;
  duration: number;
  tokens: string[];
  /** Sockets at most; a request due while all are busy waits for one, and its wait counts. */
  connections: number;
  meter?: CpuMeter;
}

interface Outcome {
  latencyMs: number;
  failure: string | null;
}

function send(agent: Agent, url: URL, token: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number);

export async function runPaced(op: Operation, options: PacedOptions): Promise<OpFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const url = new URL(`${options.url}/graphql`);
  const total = Math.round(options.rate * options.duration);
  const interval = 1000 / options.rate;
  const outcomes: Promise<Outcome>[] = [];
  const before = options.meter?.read();
  const start = performance.now();
  let next = 0;
  const lags: number[] = [];
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      // Everything due by now goes out, so a late timer never lowers the rate.
      while (next < total && start + next * interval <= now) {
        const due = start + next * interval;
        const token = options.tokens[next % options.tokens.length] as string;
        lags.push(now - due);
        outcomes.push(send(agent, url, token, JSON.stringify(op.body())).then(
          (res) => {
            const code = errorCode(res.body);
            const failure = res.status < 200 || res.status >= 300 ? `HTTP ${res.status}${code}` : code ? code.trim() : null;
            return { latencyMs: performance.now() - due, failure };
          },
          (error: Error) => ({ latencyMs: performance.now() - due, failure: `connection error: ${error.message}` }),
        ));
        next++;
      }
      if (next >= total) return done();
      setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    tick();
  });
  const settled = await Promise.all(outcomes);
  const elapsed = (performance.now() - start) / 1000;
  const after = options.meter?.read();
  agent.destroy();

  const failures = new Map<string, number>();
  for (const o of settled) if (o.failure) failures.set(o.failure, (failures.get(o.failure) ?? 0) + 1);
  const failed = [...failures.values()].reduce((a, b) => a + b, 0);
  const latencies = settled.map((o) => o.latencyMs).sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const ms = (v: number) => Math.round(v * 10) / 10;
  return {
    rps: ms((settled.length - failed) / elapsed),
    p50: ms(percentile(latencies, 50)),
    p99: ms(percentile(latencies, 99)),
    mean: ms(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
    ok: settled.length - failed,
    failures: failed,
    total: settled.length,
    errorSamples: [...failures.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, n]) => `${k} ×${n}`),
    offeredRate: options.rate,
    dispatchLag: { p99: ms(percentile(lags, 99)), max: ms(lags.at(-1) ?? 0) },
    ...(before && after ? metered(before, after, settled.length) : {}),
  };
}
