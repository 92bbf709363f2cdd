/**
 * Part of jest's globalSetup (global-setup.ts): builds the admin console (console/ →
 * dist/console) when it is missing or older than any of its sources, so the browser and
 * explorer tests see the code under test.
 * `npm run build` does the same for `npm start`; a fresh build takes a few seconds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
// Vite rewrites the page on every build, so its age is the build's.
const BUILT = join(ROOT, 'dist', 'console', 'index.html');

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((latest, name) => Math.max(latest, newest(join(path, name))), stat.mtimeMs);
}

export default function buildConsole(): void {
  const sources = Math.max(newest(join(ROOT, 'console')), newest(join(ROOT, 'package-lock.json')));
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= sources) return;
  const run = spawnSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'console/vite.config.mts'], { cwd: ROOT, stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`building the admin console failed (exit ${run.status})`);
}
