import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpFigures } from '../../scripts/lib/bench-load';
import { cpuBudget, cpuMeter, isLocalDatabase, machineShare, metered, parseMachineTicks, perRequest } from '../../scripts/lib/cpu-meter';
import { shareByPackage, timeByPackage } from '../../scripts/lib/cpuprofile';

describe('bench CPU meter', () => {
  test('CPU per request: API ticks over requests, PostgreSQL summed over its processes', () => {
    const before = { api: 1_000, db: new Map([[10, 500], [11, 40]]) };
    // pid 11 exited, pid 12 started during the run: the newcomer counts from zero.
    const after = { api: 1_200, db: new Map([[10, 600], [12, 50]]) };
    // 200 ticks = 2 s of API CPU over 1,000 requests = 2,000 µs each; PostgreSQL 150 ticks = 1,500 µs.
    expect(perRequest(before, after, 1_000)).toEqual({ apiUs: 2_000, dbUs: 1_500, clientUs: null });
  });

  test('figures are null where a side cannot be read', () => {
    expect(perRequest({ api: null, db: null }, { api: null, db: null }, 10)).toEqual({ apiUs: null, dbUs: null, clientUs: null });
  });

  test('a running process is metered, and its CPU time only grows', () => {
    const meter = cpuMeter(process.pid, false);
    const first = meter.read();
    let spin = 0;
    for (let i = 0; i < 2e7; i++) spin += i % 7;
    const second = meter.read();
    expect(spin).toBeGreaterThan(0);
    if (process.platform !== 'linux') {
      expect(first.api).toBeNull();
      return;
    }
    expect(first.api).toEqual(expect.any(Number));
    expect(second.api as number).toBeGreaterThanOrEqual(first.api as number);
    expect(second.db).toBeNull();
  });

  test.each([
    ['postgres://postgres@127.0.0.1:5432/x', true],
    ['postgres://u@localhost/x', true],
    ['postgres://u@db.internal:5432/x', false],
  ])('%s is local: %s', (url, local) => {
    expect(isLocalDatabase(url)).toBe(local);
  });

  const STAT = (user: number, idle: number, steal: number) =>
    `cpu  ${user} 0 100 ${idle} 20 0 5 ${steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 123\n`;

  test('the machine line of /proc/stat: busy is user + nice + system + irq + softirq, idle takes I/O wait, steal apart', () => {
    expect(parseMachineTicks(STAT(1_000, 5_000, 40))).toEqual({ busy: 1_105, idle: 5_020, steal: 40 });
    expect(parseMachineTicks('cpu0 1 2 3\n')).toBeNull();
    expect(parseMachineTicks('cpu  1 2 x 4 5 6 7 8\n')).toBeNull();
  });

  test('the machine share of a run: each kind of time in percent of all of it, over the run only', () => {
    const before = parseMachineTicks(STAT(1_000, 5_000, 40));
    // Over the run: 600 ticks busy, 300 idle, 100 stolen.
    const after = parseMachineTicks(STAT(1_600, 5_300, 140));
    expect(machineShare(before, after)).toEqual({ busyPercent: 60, idlePercent: 30, stealPercent: 10 });
    expect(machineShare(before, before)).toBeNull();
    expect(machineShare(null, after)).toBeNull();
    const reading = (machine: ReturnType<typeof parseMachineTicks>) => ({ api: 0, db: null, machine });
    expect(metered(reading(before), reading(after), 10)).toEqual({ cpu: { apiUs: 0, dbUs: null, clientUs: null }, machine: { busyPercent: 60, idlePercent: 30, stealPercent: 10 } });
    expect(metered(reading(null), reading(null), 10)).toEqual({ cpu: { apiUs: 0, dbUs: null, clientUs: null } });
  });

  test('on Linux the meter reads the machine too', () => {
    const machine = cpuMeter(null, false).read().machine;
    if (process.platform === 'linux') expect(machine).toEqual({ busy: expect.any(Number), idle: expect.any(Number), steal: expect.any(Number) });
    else expect(machine).toBeNull();
  });

  test('the load generator is this process: its CPU time in µs over the requests', () => {
    // 1.5 s of this process's CPU over 1,000 requests is 1,500 µs each.
    expect(perRequest({ api: 0, db: null, client: 2_000_000 }, { api: 0, db: null, client: 3_500_000 }, 1_000)).toEqual({ apiUs: 0, dbUs: null, clientUs: 1_500 });
    const first = cpuMeter(null, false).read();
    let spin = 0;
    for (let i = 0; i < 2e7; i++) spin += i % 7;
    expect(spin).toBeGreaterThan(0);
    expect(cpuMeter(null, false).read().client as number).toBeGreaterThan(first.client as number);
  });

  const figures = (rps: number, apiUs: number, dbUs: number, clientUs: number | null): OpFigures => ({
    rps, p50: 1, p99: 2, mean: 1, ok: rps, failures: 0, total: rps, errorSamples: [], cpu: { apiUs, dbUs, clientUs },
  });

  test('the CPU budget: cores spent at the measured rate, and at the ratio target at the same cost per request', () => {
    const C = figures(5_000, 200, 20, 60);
    const budget = cpuBudget({
      now: C,
      balance: figures(4_800, 210, 30, 60),
      recordPurchase: figures(1_400, 600, 350, 90),
      statement: figures(2_000, 400, 200, 70),
      redeemPoints: figures(2_000, 400, 380, null),
    }, C, 2);
    // 5,000/s × 200 µs is the API thread's whole core; with PostgreSQL and the load generator 1.4 cores.
    expect(budget.now).toEqual({ measured: { rate: 5_000, apiCore: 1, cores: 1.4 }, atTarget: null });
    // 0.90 × 5,000 = 4,500/s × 210 µs = 0.945 of the API thread, × 300 µs = 1.35 cores: within a 2-core machine.
    expect(budget.balance?.atTarget).toEqual({ ratio: 0.9, rate: 4_500, apiCore: 0.95, cores: 1.35, fits: true });
    // 0.60 × 5,000 = 3,000/s × 600 µs = 1.8 API threads, × 1,040 µs = 3.12 cores: out of reach.
    expect(budget.recordPurchase).toEqual({
      measured: { rate: 1_400, apiCore: 0.84, cores: 1.46 },
      atTarget: { ratio: 0.6, rate: 3_000, apiCore: 1.8, cores: 3.12, fits: false },
    });
    expect(budget.statement?.atTarget).toBeNull();
    // Without the load generator's figure there is no budget to state.
    expect(budget.redeemPoints).toEqual({ measured: null, atTarget: null });
  });

  test('a CPU profile by package: npm packages, own modules, Node built-ins and native frames; idle left out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
    try {
      const frame = (id: number, functionName: string, url: string) => ({ id, callFrame: { functionName, url, lineNumber: 0 } });
      const file = join(dir, 'p.cpuprofile');
      writeFileSync(file, JSON.stringify({
        startTime: 1_000,
        nodes: [
          frame(1, '(root)', ''), frame(2, '(idle)', ''), frame(3, 'compile', 'file:///app/node_modules/kysely/dist/cjs/x.js'),
          frame(4, 'inner', 'file:///app/node_modules/@apollo/server/node_modules/uuid/dist/v4.js'), frame(5, 'credit', 'file:///app/dist/ledger/ledger.core.js'),
          frame(6, 'emit', 'node:events'), frame(7, 'writev', ''),
        ],
        // One sample each, 10 µs apart, then a long idle one; the first sample lands at 1,010.
        samples: [3, 3, 4, 5, 6, 7, 7, 7, 2],
        timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 1_000],
      }));
      expect(Object.fromEntries(timeByPackage(file))).toEqual({ writev: 30, kysely: 20, uuid: 10, milepost: 10, node: 10 });
      const shares = shareByPackage(file);
      expect(Object.fromEntries(shares)).toEqual({ writev: 3 / 8, kysely: 2 / 8, uuid: 1 / 8, milepost: 1 / 8, node: 1 / 8 });
      expect([...shares.keys()][0]).toBe('writev');
      // Samples at 1,010 … 1,080: a window of 1,025 to 1,055 holds the third to fifth.
      expect(Object.fromEntries(shareByPackage(file, { from: 1_025, to: 1_055 }))).toEqual({ uuid: 1 / 3, milepost: 1 / 3, node: 1 / 3 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
