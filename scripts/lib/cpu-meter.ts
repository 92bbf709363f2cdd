/**
 * CPU time spent per request, from /proc (Linux; every figure is null elsewhere): the API
 * server's process and, when the database is on this machine, every PostgreSQL process
 * (backends, WAL writer, checkpointer, autovacuum); and, on every platform, the load
 * generator's: this process, which runs autocannon. Unlike req/s, which moves with whatever
 * else a shared machine runs, CPU time per request changes only when the work per request does.
 * PostgreSQL time covers the whole server, so other databases' work on it counts too.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { OpFigures } from './bench-load';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux ABI Node supports

/** utime + stime of one process in ticks, or null when it cannot be read. */
function processTicks(pid: number): number | null {
  try {
    // Fields after the command name, which is parenthesised and may hold spaces.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** Ticks of every process whose command line starts with `postgres`, by pid. */
function postgresTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith('postgres')) continue;
    } catch {
      continue;
    }
    const t = processTicks(Number(entry));
    if (t !== null) ticks.set(Number(entry), t);
  }
  return ticks;
}

/** The whole machine's CPU time since boot, in ticks over all cores (/proc/stat). */
export interface MachineTicks {
  /** Running anything: user, nice, system, irq, softirq (guest time is inside user). */
  busy: number;
  /** Idle or waiting for I/O. */
  idle: number;
  /** Wanted to run but the hypervisor ran something else: the host's other tenants. */
  steal: number;
}

/** MachineTicks from the text of /proc/stat, or null when its `cpu` line is missing or malformed. */
export function parseMachineTicks(stat: string): MachineTicks | null {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  const fields = line?.trim().split(/\s+/).slice(1, 9).map(Number) ?? [];
  if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

function machineTicks(): MachineTicks | null {
  try {
    return parseMachineTicks(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** How the machine's CPU time between two readings was spent, in percent of all of it. */
export interface MachineShare {
  busyPercent: number;
  idlePercent: number;
  stealPercent: number;
}

export function machineShare(before: MachineTicks | null, after: MachineTicks | null): MachineShare | null {
  if (!before || !after) return null;
  const busy = after.busy - before.busy;
  const idle = after.idle - before.idle;
  const steal = after.steal - before.steal;
  const total = busy + idle + steal;
  if (total <= 0) return null;
  const percent = (ticks: number) => Math.round((ticks / total) * 1000) / 10;
  return { busyPercent: percent(busy), idlePercent: percent(idle), stealPercent: percent(steal) };
}

export interface CpuReading {
  api: number | null;
  db: Map<number, number> | null;
  /** This process's user + system CPU, µs (process.cpuUsage). */
  client?: number;
  /** The whole machine (Linux), so a slow spell can be told from a dearer request. */
  machine?: MachineTicks | null;
}

export interface CpuMeter {
  read(): CpuReading;
}

/** A meter for the API process `apiPid` (null: none) and, if `localDatabase`, PostgreSQL. */
export function cpuMeter(apiPid: number | null, localDatabase: boolean): CpuMeter {
  const linux = process.platform === 'linux';
  return {
    read: () => ({
      api: linux && apiPid !== null ? processTicks(apiPid) : null,
      db: linux && localDatabase ? postgresTicks() : null,
      machine: linux ? machineTicks() : null,
      client: clientMicros(),
    }),
  };
}

export interface CpuPerRequest {
  /** Microseconds of API-process CPU per completed request. */
  apiUs: number | null;
  /** Microseconds of PostgreSQL CPU per completed request. */
  dbUs: number | null;
  /** Microseconds of the load generator's CPU per completed request, when it was read. */
  clientUs?: number | null;
}

const clientMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

/** What a run's figures carry from the meter: CPU per request and, where readable, the machine's share. */
export function metered(before: CpuReading, after: CpuReading, requests: number): { cpu: CpuPerRequest; machine?: MachineShare } {
  const machine = machineShare(before.machine ?? null, after.machine ?? null);
  return { cpu: perRequest(before, after, requests), ...(machine ? { machine } : {}) };
}

/**
 * CPU per request between two readings. A PostgreSQL process that started in between counts
 * from zero; one that exited in between is lost (connection pools keep theirs open under load).
 */
export function perRequest(before: CpuReading, after: CpuReading, requests: number): CpuPerRequest {
  const us = (ticks: number) => Math.round((ticks / TICKS_PER_SECOND) * 1e6 / Math.max(requests, 1));
  let db: number | null = null;
  if (before.db && after.db) {
    let ticks = 0;
    for (const [pid, t] of after.db) ticks += t - (before.db.get(pid) ?? 0);
    db = us(ticks);
  }
  const clientUs = before.client !== undefined && after.client !== undefined ? Math.round((after.client - before.client) / Math.max(requests, 1)) : null;
  return { apiUs: before.api !== null && after.api !== null ? us(after.api - before.api) : null, dbUs: db, clientUs };
}

/** Whether a database URL points at this machine, so its processes can be metered. */
export function isLocalDatabase(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '' || host === 'localhost' || host === '127.0.0.1' || host === '::1' || host === '[::1]';
}

/** The req/s ratio to C each operation is held to (BENCHMARKS.md, Targets). */
export const RATIO_TARGETS: Record<string, number> = { balance: 0.9, recordPurchase: 0.6, redeemPoints: 0.6 };

export interface CoreUse {
  rate: number;
  /** Share of a core the API's one JavaScript thread spends (it cannot use more than 1). */
  apiCore: number;
  /** Cores the API, PostgreSQL and the load generator spend together. */
  cores: number;
}

const coresAt = (fig: OpFigures, rate: number): CoreUse | null => {
  const { apiUs, dbUs, clientUs } = fig.cpu ?? {};
  if (apiUs == null || dbUs == null || clientUs == null) return null;
  const round2 = (v: number) => Math.round(v * 100) / 100;
  return { rate: Math.round(rate), apiCore: round2((rate * apiUs) / 1e6), cores: round2((rate * (apiUs + dbUs + clientUs)) / 1e6) };
};

/**
 * What each operation spends of the machine at its measured rate and, for those with a ratio
 * target, what it would spend at that target, at the same CPU per request. An operation whose
 * API thread would need more than one core, or whose total would exceed the machine's cores,
 * cannot reach its target here without costing less per request.
 */
export function cpuBudget(figures: Record<string, OpFigures>, c: OpFigures, cores: number) {
  return Object.fromEntries(Object.entries(figures).map(([name, fig]) => {
    const measured = coresAt(fig, fig.rps);
    const target = RATIO_TARGETS[name];
    const atTarget = target !== undefined ? coresAt(fig, target * c.rps) : null;
    return [name, {
      measured,
      atTarget: atTarget && target !== undefined ? { ratio: target, ...atTarget, fits: atTarget.apiCore <= 1 && atTarget.cores <= cores } : null,
    }];
  }));
}
