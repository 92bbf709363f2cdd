/**
 * npm run bench writes bench-results/latest.json; this draws bench-results/chart.svg from it:
 * throughput per operation against C and D, p99 at half the maximum rate against the 50 ms
 * target, and (when measured) read latency at both member counts. Plain SVG, no library.
 *
 * ts-node --transpile-only scripts/bench-chart.ts [in.json] [out.svg]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Fig { rps: number; p50: number; p99: number; mean: number }
const RESULTS = resolve(__dirname, '..', 'bench-results');
const input = process.argv[2] ?? join(RESULTS, 'latest.json');
const output = process.argv[3] ?? join(RESULTS, 'chart.svg');
const r = JSON.parse(readFileSync(input, 'utf8'));

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const W = 760;
const parts: string[] = [];
let y = 0;

function bars(title: string, unit: string, rows: { label: string; value: number; note?: string; color: string }[], limit?: { value: number; label: string }) {
  const max = Math.max(...rows.map((row) => row.value), limit?.value ?? 0) * 1.1 || 1;
  const x0 = 230;
  const width = W - x0 - 110;
  parts.push(`<text x="10" y="${y + 20}" font-size="15" font-weight="bold">${esc(title)}</text>`);
  y += 32;
  for (const row of rows) {
    const w = Math.max(1, (row.value / max) * width);
    parts.push(`<text x="${x0 - 8}" y="${y + 14}" font-size="12" text-anchor="end">${esc(row.label)}</text>`);
    parts.push(`<rect x="${x0}" y="${y + 2}" width="${w.toFixed(1)}" height="16" fill="${row.color}"/>`);
    parts.push(`<text x="${x0 + w + 6}" y="${y + 14}" font-size="12">${esc(`${row.value} ${unit}${row.note ? ` ${row.note}` : ''}`)}</text>`);
    y += 22;
  }
  if (limit) {
    const lx = x0 + (limit.value / max) * width;
    const top = y - rows.length * 22;
    parts.push(`<line x1="${lx.toFixed(1)}" y1="${top}" x2="${lx.toFixed(1)}" y2="${y}" stroke="#c00" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${lx + 3}" y="${y + 12}" font-size="11" fill="#c00">${esc(limit.label)}</text>`);
    y += 14;
  }
  y += 18;
}

const ops: [string, string][] = [
  ['typename', '(0) { __typename }'], ['now', '(1) { now }'], ['balance', '(2) balance'], ['recordPurchase', '(3) recordPurchase'],
  ['redeemPoints', '(4) redeemPoints'], ['statement', '(5) statement page'],
];
const C = r.C as number;
bars(`Throughput, ${r.meta.members} members, ${r.meta.connections} connections (req/s, × C: plain Apollo { hello })`, 'req/s', [
  { label: 'C: plain Apollo { hello }', value: C, color: '#555', note: '' },
  ...ops.filter(([name]) => r.operations[name]).map(([name, label]) => ({
    label, value: (r.operations[name] as Fig).rps, color: '#2b6cb0',
    note: `(${((r.operations[name] as Fig).rps / C).toFixed(2)} × C)`,
  })),
  { label: 'D: earn SQL, plain pg Pool', value: r.D, color: '#888', note: '' },
]);
if (r.halfRate && Object.keys(r.halfRate).length) {
  bars('p99 latency at half the maximum rate, evenly paced (ms)', 'ms', ops.filter(([n]) => r.halfRate[n]).map(([name, label]) => ({
    label, value: r.halfRate[name].p99, color: r.halfRate[name].p99 < 50 ? '#2f855a' : '#c05621',
  })), { value: 50, label: 'target 50 ms' });
}
if (r.scaling) {
  const s = r.scaling;
  bars(`Mean latency, ms: ${s.small} vs ${s.large} members`, 'ms', ['balance', 'statement', 'recordPurchase', 'redeemPoints'].filter((name) => s[name]).flatMap((name) => [
    { label: `${name} @ ${s.small}`, value: (s[name][s.small] as Fig).mean, color: '#2b6cb0' },
    { label: `${name} @ ${s.large}`, value: (s[name][s.large] as Fig).mean, color: '#805ad5', note: `(× ${s[name].meanRatio})` },
  ]));
}
parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${esc(`${r.meta.startedAt} · ${r.meta.cpus} cores · node ${r.meta.node} · commit ${r.meta.commit}`)}</text>`);
y += 10;
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
writeFileSync(output, svg);
console.log(`wrote ${output}`);
