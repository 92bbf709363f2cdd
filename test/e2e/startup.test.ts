/**
 * Starting where something else already is: a second process on the same embedded database
 * folder is refused (two writers corrupt it), and a port in use is one line, not a stack.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { claimDataDir, DataDirInUseError } from '../../src/db/data-dir-lock';
import { openDatabase } from '../../src/db/database';

const ROOT = path.resolve(__dirname, '../..');
const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'milepost-data-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

/** Runs src/main.ts to its exit; its exit code and everything it wrote. */
function start(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'src/main.ts'], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => { output += String(chunk); });
  child.stderr.on('data', (chunk) => { output += String(chunk); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => child.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, output });
  }));
}

test('a second open of one embedded database folder is refused while the first holds it, and allowed once it closed', async () => {
  const dataDir = freshDir();
  const first = await openDatabase({ kind: 'pglite', dataDir });
  try {
    await expect(openDatabase({ kind: 'pglite', dataDir })).rejects.toThrow(new DataDirInUseError(
      `the embedded database in ${dataDir} is in use by process ${process.pid}: stop that process, or set PGLITE_DATA_DIR to another folder`,
    ));
  } finally {
    await first.close();
  }
  expect(existsSync(path.join(dataDir, 'milepost.pid'))).toBe(false);
  const again = await openDatabase({ kind: 'pglite', dataDir });
  await again.close();
});

test('a claim left by a process that is gone is taken over', () => {
  const dataDir = freshDir();
  // No process has pid 2^22 + 1 (above Linux's pid_max).
  writeFileSync(path.join(dataDir, 'milepost.pid'), String(4_194_305));
  const release = claimDataDir(dataDir);
  expect(readFileSync(path.join(dataDir, 'milepost.pid'), 'utf8')).toBe(String(process.pid));
  release();
  expect(existsSync(path.join(dataDir, 'milepost.pid'))).toBe(false);
});

test('npm start on a folder another process holds exits 1 with one line saying which', async () => {
  const dataDir = freshDir();
  const release = claimDataDir(dataDir);
  try {
    const { code, output } = await start({ PGLITE_DATA_DIR: dataDir, PORT: '0' });
    expect(code).toBe(1);
    expect(output.trim()).toBe(`Milepost failed to start: the embedded database in ${dataDir} is in use by process ${process.pid}: stop that process, or set PGLITE_DATA_DIR to another folder`);
  } finally {
    release();
  }
}, 90_000);

test('a port already in use is one line, not a stack', async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as { port: number };
  try {
    const { code, output } = await start({ PGLITE_DATA_DIR: freshDir(), PORT: String(port) });
    expect(code).toBe(1);
    expect(output.trim()).toBe(`Milepost failed to start: 127.0.0.1:${port} is already in use: set PORT (or HOST) to another`);
  } finally {
    taken.close();
  }
}, 90_000);
