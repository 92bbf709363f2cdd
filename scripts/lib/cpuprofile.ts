/** Reads a V8 .cpuprofile (node --cpu-prof) and ranks functions by self time. */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface HotFunction {
  name: string;
  location: string;
  selfPercent: number;
}

export function summariseProfile(file: string, top = 20): HotFunction[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { name: string; location: string; time: number }>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const location = url ? `${url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, 'node_modules/').replace(/^.*\/dist\//, 'dist/')}:${lineNumber + 1}` : '';
    const key = `${functionName}|${location}`;
    const entry = self.get(key) ?? { name: functionName || '(anonymous)', location, time: 0 };
    entry.time += dt;
    self.set(key, entry);
  });
  return [...self.values()]
    .sort((a, b) => b.time - a.time)
    .slice(0, top)
    .map((e) => ({ name: e.name, location: e.location, selfPercent: total > 0 ? (100 * e.time) / total : 0 }));
}

/**
 * Where a profile's busy time went by package, in µs: each sample's own function is charged to
 * the npm package it lives in, to Milepost's own modules (`milepost`), to Node's built-in modules
 * (`node`), or to what V8 names it (the garbage collector, `writev` and other native calls).
 * Idle samples are left out. With `window` (µs of the monotonic clock, which V8's timestamps
 * and process.hrtime share on Linux), only samples taken inside it count.
 *
 * The samples are wall-clock intervals: a thread that the kernel preempts while busy (inside a
 * socket write that woke another process onto its core, say) is charged for the wait as well,
 * so the total can exceed the process's CPU time over the same window.
 */
export function timeByPackage(file: string, window?: { from: number; to: number }): Map<string, number> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const time = new Map<string, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (window && (at < window.from || at > window.to)) return;
    if (!node || node.callFrame.functionName === '(idle)') return;
    const key = packageOf(node.callFrame);
    time.set(key, (time.get(key) ?? 0) + dt);
  });
  return new Map([...time].sort((a, b) => b[1] - a[1]));
}

/** timeByPackage as shares of the busy time, adding up to 1. */
export function shareByPackage(file: string, window?: { from: number; to: number }): Map<string, number> {
  const time = timeByPackage(file, window);
  const total = [...time.values()].reduce((sum, t) => sum + t, 0);
  return new Map([...time].map(([key, t]) => [key, total > 0 ? t / total : 0]));
}

function packageOf({ functionName, url }: ProfileNode['callFrame']): string {
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(url);
  if (inModules) return inModules[1] as string;
  if (url.startsWith('node:')) return 'node';
  if (url.includes('/dist/') || url.includes('/src/')) return 'milepost';
  return functionName || '(native)';
}
