/**
 * The machine's own stalls while a latency run is under way: a separate, otherwise idle Node
 * process asks to be woken every millisecond (perf_hooks.monitorEventLoopDelay) and records how
 * late it was. With nothing to do of its own, any lateness is time the machine did not give it:
 * other processes holding both cores, or the virtual machine itself descheduled. A request that
 * was in flight during such a stall is late by as much, whatever the service does, so a latency
 * percentile is read beside the stalls of the same window.
 */
import { spawn } from 'node:child_process';
import type { Extremes } from './bench-load';

/** Lateness of a 1 ms wake-up, ms: 99th percentile and worst. */
export type Stalls = Extremes;

const METER = `
const { monitorEventLoopDelay } = require('node:perf_hooks');
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
process.stdout.write('ready\\n');
process.stdin.resume();
process.stdin.on('end', () => {
  h.disable();
  // Each sample is the whole interval between wake-ups; lateness is what exceeds the 1 ms asked.
  const late = (ns) => Math.max(0, Math.round((ns / 1e6 - 1) * 10) / 10);
  process.stdout.write(JSON.stringify({ p99: late(h.percentile(99)), max: late(h.max) }));
});
`;

export interface StallMeter {
  /** The metering process. */
  pid: number | undefined;
  /** Settles once the meter is metering. */
  ready: Promise<void>;
  stop(): Promise<Stalls | null>;
}

export function startStallMeter(): StallMeter {
  const child = spawn(process.execPath, ['-e', METER], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => { markReady = resolve; });
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('\n')) markReady();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { markReady(); resolve(); }));
  return {
    pid: child.pid,
    ready,
    async stop() {
      child.stdin.end();
      await exited;
      try {
        return JSON.parse(out.slice(out.indexOf('\n') + 1)) as Stalls;
      } catch {
        return null;
      }
    },
  };
}
