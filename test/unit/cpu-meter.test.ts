import { cpuMeter, isLocalDatabase, machineShare, metered, parseMachineTicks, perRequest } from '../../scripts/lib/cpu-meter';

describe('bench CPU meter', () => {
  test('CPU per request: API ticks over requests, PostgreSQL summed over its processes', () => {
    const before = { api: 1_000, db: new Map([[10, 500], [11, 40]]) };
    // pid 11 exited, pid 12 started during the run: the newcomer counts from zero.
    const after = { api: 1_200, db: new Map([[10, 600], [12, 50]]) };
    // 200 ticks = 2 s of API CPU over 1,000 requests = 2,000 µs each; PostgreSQL 150 ticks = 1,500 µs.
    expect(perRequest(before, after, 1_000)).toEqual({ apiUs: 2_000, dbUs: 1_500 });
  });

  test('figures are null where a side cannot be read', () => {
    expect(perRequest({ api: null, db: null }, { api: null, db: null }, 10)).toEqual({ apiUs: null, dbUs: null });
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
    expect(metered(reading(before), reading(after), 10)).toEqual({ cpu: { apiUs: 0, dbUs: null }, machine: { busyPercent: 60, idlePercent: 30, stealPercent: 10 } });
    expect(metered(reading(null), reading(null), 10)).toEqual({ cpu: { apiUs: 0, dbUs: null } });
  });

  test('on Linux the meter reads the machine too', () => {
    const machine = cpuMeter(null, false).read().machine;
    if (process.platform === 'linux') expect(machine).toEqual({ busy: expect.any(Number), idle: expect.any(Number), steal: expect.any(Number) });
    else expect(machine).toBeNull();
  });
});
