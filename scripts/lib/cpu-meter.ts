/**
 * CPU time spent per request, from /proc (Linux; every figure is null elsewhere): the API
 * server's process and, when the database is on this machine, every PostgreSQL process
 * (backends, WAL writer, checkpointer, autovacuum). Unlike req/s, which moves with whatever
 * else a shared machine runs, CPU time per request changes only when the work per request does.
 * PostgreSQL time covers the whole server, so other databases' work on it counts too.
 */
import { readFileSync, readdirSync } from 'node:fs';

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

export interface CpuReading {
  api: number | null;
  db: Map<number, number> | null;
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
    }),
  };
}

export interface CpuPerRequest {
  /** Microseconds of API-process CPU per completed request. */
  apiUs: number | null;
  /** Microseconds of PostgreSQL CPU per completed request. */
  dbUs: number | null;
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
  return { apiUs: before.api !== null && after.api !== null ? us(after.api - before.api) : null, dbUs: db };
}

/** Whether a database URL points at this machine, so its processes can be metered. */
export function isLocalDatabase(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '' || host === 'localhost' || host === '127.0.0.1' || host === '::1' || host === '[::1]';
}
