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
