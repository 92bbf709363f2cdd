import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runPaced } from '../../scripts/lib/bench-paced';
import { startStallMeter } from '../../scripts/lib/hiccups';

/** A GraphQL-shaped endpoint that records arrivals and answers after `delayMs`, one at a time if `serial`. */
function endpoint(options: { delayMs: number; serial?: boolean; failEvery?: number }) {
  const arrivals: number[] = [];
  let busyUntil = 0;
  let count = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const now = performance.now();
      arrivals.push(now);
      const n = ++count;
      const start = options.serial ? Math.max(now, busyUntil) : now;
      busyUntil = start + options.delayMs;
      const body = options.failEvery && n % options.failEvery === 0
        ? { errors: [{ message: 'refused', extensions: { code: 'RATE_LIMITED' } }] }
        : { data: { now: 'x' } };
      setTimeout(() => res.end(JSON.stringify(body)), busyUntil - now);
    });
  });
  return {
    arrivals,
    listen: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Runs `test` against a fresh endpoint, closed afterwards whatever happens. */
async function withEndpoint(options: Parameters<typeof endpoint>[0], test: (url: string, api: ReturnType<typeof endpoint>) => Promise<void>) {
  const api = endpoint(options);
  const url = await api.listen();
  try {
    await test(url, api);
  } finally {
    await api.close();
  }
}

const op = { name: 'now', label: 'now', body: () => ({ query: '{ now }' }) };

describe('bench: paced load at half rate', () => {
  test('arrivals are spread over the second, not sent in one burst', async () => {
    await withEndpoint({ delayMs: 1 }, async (url, api) => {
      const figures = await runPaced(op, { url, rate: 50, duration: 2, tokens: ['t'], connections: 20 });
      expect(figures.total).toBe(100);
      expect(figures.failures).toBe(0);
      // 50/s is 10 per 200 ms. A per-second burst, as autocannon's rate limit sends, puts 50 in one.
      const first = api.arrivals[0] as number;
      const windows = new Map<number, number>();
      for (const t of api.arrivals) {
        const window = Math.floor((t - first) / 200);
        windows.set(window, (windows.get(window) ?? 0) + 1);
      }
      expect(Math.max(...windows.values())).toBeLessThanOrEqual(30);
      expect(windows.size).toBeGreaterThanOrEqual(8);
    });
  });

  test('latency runs from when a request was due: a server that falls behind is charged for its queue', async () => {
    // Capacity 20/s (50 ms each, one at a time) against 40/s offered for 1 s: the last requests wait
    // about a second. Measured from when a socket was free, each would look like 50 ms.
    await withEndpoint({ delayMs: 50, serial: true }, async (url) => {
      const figures = await runPaced(op, { url, rate: 40, duration: 1, tokens: ['t'], connections: 40 });
      expect(figures.total).toBe(40);
      expect(figures.p99).toBeGreaterThanOrEqual(700);
      expect(figures.p50).toBeGreaterThanOrEqual(200);
    });
  });

  test('responses holding GraphQL errors are failures, with their code', async () => {
    await withEndpoint({ delayMs: 1, failEvery: 4 }, async (url) => {
      const figures = await runPaced(op, { url, rate: 40, duration: 1, tokens: ['t'], connections: 10 });
      expect(figures.total).toBe(40);
      expect(figures.failures).toBe(10);
      expect(figures.ok).toBe(30);
      expect(figures.errorSamples[0]).toMatch(/^RATE_LIMITED: refused ×10$/);
    });
  });

  test('the stall meter sees a stall of the machine (here its own process stopped for 400 ms)', async () => {
    const meter = startStallMeter();
    await meter.ready;
    await new Promise((r) => setTimeout(r, 100));
    process.kill(meter.pid as number, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 400));
    process.kill(meter.pid as number, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 200));
    const stalls = await meter.stop();
    expect(stalls).not.toBeNull();
    expect(stalls?.max).toBeGreaterThanOrEqual(350);
    expect(stalls?.p99).toBeLessThan(stalls?.max as number);
  });
});
