/**
 * The API under test as a child process: built output, NODE_ENV=production, a real secret,
 * and /readyz polled before any load is sent. Stopped with SIGTERM (the contract's graceful
 * shutdown), which also lets --cpu-prof write its profile.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ServerOptions {
  /** Where dist/ was built (buildService). */
  appDir: string;
  databaseUrl: string;
  port: number;
  jwtSecret: string;
  /** Directory for a V8 CPU profile of the server, or null for none. */
  cpuProfileDir: string | null;
  env?: Record<string, string>;
}

export interface RunningServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<string | null>;
}

const ROOT = resolve(__dirname, '..', '..');

/** KEY=VALUE flags as an environment; anything else is refused. */
export function envAssignments(assignments: string[], flag: string): Record<string, string> {
  return Object.fromEntries(assignments.map((assignment) => {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(assignment);
    if (!match) throw new Error(`${flag} takes KEY=VALUE, got "${assignment}"`);
    return [match[1] as string, match[2] as string];
  }));
}

/**
 * Builds the service and returns the directory holding dist/. By default the committed tree
 * (HEAD) is exported to a scratch directory and built there, so edits in progress in the
 * working copy neither break nor colour a run; `ref` builds another commit the same way (for a
 * before/after comparison), and `workingTree` builds the working copy instead.
 */
export function buildService(workingTree: boolean, ref = 'HEAD'): string {
  let dir = ROOT;
  if (!workingTree) {
    dir = join(tmpdir(), ref === 'HEAD' ? 'milepost-bench-build' : `milepost-bench-build-${ref.replace(/[^\w.-]/g, '_')}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const exported = spawnSync('sh', ['-c', 'git -C "$0" archive "$1" | tar -x -C "$2"', ROOT, ref, dir], { stdio: 'inherit' });
    if (exported.status !== 0) throw new Error(`git archive ${ref} failed`);
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  }
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: dir, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed in ${dir}`);
  return dir;
}

async function waitReady(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('server was not ready within 60 s');
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const args: string[] = [];
  if (options.cpuProfileDir) {
    mkdirSync(options.cpuProfileDir, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  }
  args.push(join(options.appDir, 'dist', 'main.js'));
  const child = spawn(process.execPath, args, {
    cwd: options.appDir,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(options.port),
      DATABASE_URL: options.databaseUrl,
      JWT_SECRET: options.jwtSecret,
      // The webhook operation's receiver listens on loopback, over http.
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_ALLOW_HTTP: 'true',
      ...options.env,
    },
    // Request logs go nowhere: what is measured is the cost of writing them, not of reading them.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = `http://127.0.0.1:${options.port}`;
  const before = options.cpuProfileDir ? new Set(readdirSync(options.cpuProfileDir)) : new Set<string>();
  const running = await whenReady(child, url);
  return {
    url,
    child,
    async stop() {
      await running.stop();
      if (!options.cpuProfileDir) return null;
      const fresh = readdirSync(options.cpuProfileDir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
      return fresh.length > 0 ? join(options.cpuProfileDir, fresh.sort().at(-1) as string) : null;
    },
  };
}

/**
 * The ceiling C (plain-apollo.ts): a plain Apollo Server + Express answering `{ hello }`, no
 * Milepost code, as a child process in production mode like the service.
 */
export async function startPlainApollo(port: number): Promise<RunningServer> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'plain-apollo.ts'), String(port)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return whenReady(child, `http://127.0.0.1:${port}`);
}

/** `child` once /readyz answers at `url` (killed, with its last words, if it never does), and how to stop it. */
async function whenReady(child: ChildProcess, url: string): Promise<RunningServer & { stop(): Promise<null> }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  try {
    await waitReady(url, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      return null;
    },
  };
}
