import { cpuMeter, isLocalDatabase, perRequest } from '../../scripts/lib/cpu-meter';

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
});
