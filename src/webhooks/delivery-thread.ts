/**
 * The delivery workers in a thread of their own. Sending a delivery (its signature, the HTTP
 * exchange, recording the attempt) costs about as much of a CPU as the request that queued the
 * event; on the API's thread that time is taken from requests, in this one it runs on another
 * core. The thread opens its own small pool and, where NATS_URL is set, its own stream
 * connection, from the same environment as the API. For PostgreSQL only: an embedded PGlite is
 * one connection in the API's thread, and its workers run there (main.ts).
 */
import { Worker, isMainThread, parentPort, workerData, type WorkerOptions } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../config';
import { connectionLost, openDatabase } from '../db/database';
import { startWorker } from './delivery';
import { connectStream } from './stream';

/** The thread's pool: a claim and a record of attempts at a time, with room for the horizon check. */
const THREAD_POOL_SIZE = 4;
/** How long a thread that stopped unasked waits before it is started again. */
const RESTART_MS = 1_000;

type Message = { kind: 'stop'; graceMs: number } | { kind: 'ready' } | { kind: 'stopped' };

export interface DeliveryThread {
  /** Stops claiming, waits for the deliveries in flight (at most graceMs) and closes the thread's connections. */
  stop(graceMs?: number): Promise<void>;
}

export interface DeliveryThreadOptions {
  /** Creates each thread, the first and every restart (a test keeps a handle on them). */
  createWorker?: (file: string, options: WorkerOptions) => Worker;
}

/** Starts the delivery workers in a thread, started again should it stop unasked; resolves once it is delivering. */
export async function startDeliveryThread(
  logger: Logger, { createWorker = (file, options) => new Worker(file, options) }: DeliveryThreadOptions = {},
): Promise<DeliveryThread> {
  let stopping = false;
  /** The running thread, or the one starting (a start after an unasked stop included). */
  let current: Promise<Worker>;
  let restart: NodeJS.Timeout | null = null;
  /** `first`: the start startDeliveryThread answers for; a failure then is its caller's, and nothing starts again. */
  const spawn = (first: boolean) => new Promise<Worker>((resolve, reject) => {
    // Run from the TypeScript source (ts-node, in development), the thread needs ts-node too.
    const execArgv = __filename.endsWith('.ts') ? ['--require', 'ts-node/register/transpile-only'] : [];
    const worker = createWorker(__filename, { workerData: { role: 'deliveries' }, execArgv });
    let ready = false;
    worker.on('message', (m: Message) => { if (m.kind === 'ready') { ready = true; resolve(worker); } });
    worker.on('error', (error) => {
      logger.error({ err: error }, 'webhook delivery thread failed');
      if (!ready) reject(error);
    });
    worker.on('exit', (code) => {
      if (!ready) reject(new Error(`webhook delivery thread stopped before it was ready (code ${code})`));
      if (stopping || (first && !ready)) return;
      logger.error({ code }, `webhook delivery thread stopped; starting it again in ${RESTART_MS} ms`);
      restart = setTimeout(() => {
        restart = null;
        if (stopping) return;
        current = spawn(false);
        current.catch((error: unknown) => logger.error({ err: error }, 'webhook delivery thread could not start'));
      }, RESTART_MS);
    });
  });
  current = spawn(true);
  await current;
  return {
    async stop(graceMs = 5_000) {
      stopping = true;
      if (restart) clearTimeout(restart);
      // A thread still starting is let finish starting, then stopped like a running one.
      const worker = await current.catch(() => null);
      if (!worker || worker.threadId < 0) return;
      const stopped = new Promise<void>((resolve) => {
        worker.on('message', (m: Message) => { if (m.kind === 'stopped') resolve(); });
        worker.once('exit', () => resolve());
      });
      worker.postMessage({ kind: 'stop', graceMs } satisfies Message);
      await stopped;
      await worker.terminate();
    },
  };
}

/** The thread's side: the same workers as in-process, on their own pool and stream. */
async function runThread(port: NonNullable<typeof parentPort>): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel, base: { thread: 'webhook-deliveries' } });
  const database = await openDatabase(config.database, { poolSize: THREAD_POOL_SIZE, migrate: false, onConnectionLost: connectionLost(logger) });
  const stream = await connectStream(config.stream, logger);
  const deliveries = startWorker({ db: database.db, settings: config.webhooks, logger, stream });
  port.on('message', (m: Message) => {
    if (m.kind !== 'stop') return;
    void (async () => {
      // Each step is taken whatever became of the one before; the API hears 'stopped' in any case.
      const failed = (what: string) => (error: unknown) => logger.error({ err: error, what }, 'the webhook delivery thread did not stop cleanly');
      await deliveries.stop(m.graceMs).catch(failed('deliveries'));
      await stream?.close().catch(failed('stream'));
      await database.close().catch(failed('database'));
      port.postMessage({ kind: 'stopped' } satisfies Message);
    })();
  });
  logger.info({ concurrency: config.webhooks.concurrency }, 'delivering webhooks in a thread of their own');
  port.postMessage({ kind: 'ready' } satisfies Message);
}

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === 'deliveries') {
  void runThread(parentPort);
}
