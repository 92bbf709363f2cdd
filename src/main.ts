import pino from 'pino';
import { ConfigError, loadConfig } from './config';
import { connectionLost, openDatabase, openOptions } from './db/database';
import { DataDirInUseError } from './db/data-dir-lock';
import { createApp } from './app';
import { startJobs } from './jobs/scheduler';
import { startWorker } from './webhooks/delivery';
import { startDeliveryThread } from './webhooks/delivery-thread';
import { connectStream, syncStreamTarget } from './webhooks/stream';

const SHUTDOWN_TIMEOUT_MS = 30_000;
/** The request log's write size: some ten lines per write under load (pino's own advice for asynchronous logging). */
const LOG_BUFFER_BYTES = 4096;
/** How long a log line may wait for others before it is written anyway. */
const LOG_FLUSH_MS = 200;

/** Process start: config → database → createApp → listen → graceful shutdown. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  // Buffered, asynchronous writes. A synchronous write per request log line costs every
  // request; so does an asynchronous one, which is handed to libuv's thread pool. Lines leave
  // once LOG_BUFFER_BYTES have gathered, and at least every LOG_FLUSH_MS when traffic is light;
  // pino writes what is left when the process exits.
  const logger = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }));
  const database = await openDatabase(config.database, { ...openOptions(config), onConnectionLost: connectionLost(logger) });
  logger.info({ database: database.kind }, 'database ready, migrations applied');
  const { httpServer, stop } = await createApp({ config, database, logger });
  const jobs = startJobs({ config, database, logger });
  await syncStreamTarget(database.db, config.stream, new Date());
  // Deliveries run in a thread of their own on PostgreSQL (delivery-thread.ts), in this one on PGlite.
  const threaded = config.webhooks.workers && database.kind === 'postgres';
  const stream = config.webhooks.workers && !threaded ? await connectStream(config.stream, logger) : null;
  const deliveries = !config.webhooks.workers ? null
    : threaded ? await startDeliveryThread(logger)
      : startWorker({ db: database.db, settings: config.webhooks, logger, stream });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  logger.info({ url: `http://${config.host}:${config.port}/graphql` }, 'Milepost listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // This timer also keeps the event loop alive: once the HTTP server closes, an in-memory
    // PGlite holds no handle, and Node would otherwise exit before the database is closed.
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    try {
      await jobs.stop();
      await deliveries?.stop();
      await stream?.close();
      await stop(); // stops accepting and waits for in-flight requests (drain plugin)
      await database.close();
      clearTimeout(deadline);
      logger.info('shutdown complete');
      logger.flush(() => process.exit(0));
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      logger.flush(() => process.exit(1));
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`Milepost failed to start: ${startupFailure(error)}\n`);
  process.exit(1);
});

/** One line for the failures an operator can act on; the stack for anything else. */
function startupFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    const { address, port } = error as { address?: string; port?: number };
    return `${address ?? ''}:${port ?? ''} ${code === 'EADDRINUSE' ? 'is already in use' : 'may not be listened on'}: set PORT (or HOST) to another`;
  }
  if (error instanceof DataDirInUseError) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
