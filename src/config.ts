/**
 * The environment, read and validated once. Nothing else in the service reads process.env.
 */

export const DEV_JWT_SECRET = 'milepost-dev-secret-change-me';

export type DatabaseTarget =
  /** readUrl: a read replica of the same database (DATABASE_READ_URL), where insights are read; null: none. */
  | { kind: 'postgres'; url: string; readUrl?: string | null }
  | { kind: 'pglite'; dataDir: string | null };

export interface Config {
  nodeEnv: string;
  production: boolean;
  port: number;
  host: string;
  database: DatabaseTarget;
  /** Maximum connections in the pg pool (ignored for PGlite, which has one). */
  dbPoolSize: number;
  /**
   * How long an idle pool connection stays open. A connection opened again costs the next
   * burst of requests a new backend and every statement prepared again.
   */
  dbPoolIdleMs: number;
  /** Connections shared by the optimistic units of work (db/pipelined-pool.ts); 0 gives their statements pool connections. */
  dbPipelinedConnections: number;
  /** Most of those statements that arrive together and commit in one transaction (db/pipelined-pool.ts); 1 commits each alone. */
  dbCommitGroup: number;
  jwt: {
    secret: string | null;
    publicKey: string | null;
    issuer: string;
    audience: string;
  };
  /** Lifetime of the PARTNER tokens POST /oauth/token issues, in seconds. */
  partnerTokenTtlSeconds: number;
  testClockEnabled: boolean;
  introspection: boolean;
  explorer: boolean;
  bodyLimit: string;
  logLevel: string;
  limits: { maxDepth: number; maxAliases: number; maxCost: number; maxTokens: number };
  /** How long idempotency records are kept, in days. */
  idempotencyRetentionDays: number;
  /** Requests a minute per caller (token subject, or IP when anonymous); 0 disables limiting. */
  rateLimitPerMinute: number;
  /** Where the counts are kept (graphql/rate-limit.ts). */
  rateLimitStore: RateLimitStore;
  /**
   * Which proxies' X-Forwarded-For to believe for the caller's address (Express 'trust proxy'):
   * false (the default) believes none, a number that many hops, a list the proxies' addresses or
   * CIDR ranges. Believed from anyone, the header would give every request a bucket of its own.
   */
  trustProxy: boolean | number | string[];
  /** Interval of the in-process maintenance sweep (expiry, tier evaluation); 0 disables it. */
  jobIntervalMs: number;
  /**
   * Whether units of work that move points first try the optimistic way (ledger/unit-of-work.ts):
   * a snapshot read, then one write statement on the shared connections that checks nothing
   * changed. Off, every unit takes the locked transaction: the same rows, held locks longer.
   */
  oneStatementWrites: boolean;
  webhooks: WebhookSettings;
  /** The optional NATS JetStream event stream (webhooks/stream.ts). */
  stream: { url: string | null; stream: string; subjectPrefix: string };
}

/**
 * RATE_LIMIT_STORE: `memory` counts in this process (one instance), `postgres` in the database
 * and `redis` in Redis (REDIS_URL), both shared by every instance. Default: redis when REDIS_URL
 * is set, memory otherwise.
 */
export type RateLimitStore =
  | { kind: 'memory' }
  | { kind: 'postgres' }
  /** keyPrefix: the start of every key the limiter writes (REDIS_KEY_PREFIX), so several deployments may share one Redis. */
  | { kind: 'redis'; url: string; keyPrefix: string };

/** Events out (webhooks/): delivery, retries, and which receivers may be reached. */
export interface WebhookSettings {
  /** Run the delivery workers in this process (WEBHOOK_WORKERS, default on). */
  workers: boolean;
  /** How often an idle worker looks for due deliveries. */
  pollMs: number;
  /** Deliveries one process sends at once. */
  concurrency: number;
  /** A receiver's answer must start within this (10 s). */
  timeoutMs: number;
  /** The first retry's delay (5 s); each next one ×3, ±20 %, at most maxDelayMs. */
  retryBaseMs: number;
  maxDelayMs: number;
  /** How long a delivery is retried (24 h); an endpoint failing that long is disabled. */
  horizonMs: number;
  /** points.expiring is sent this many days ahead of a lot's expiry. */
  expiringDays: number;
  /** Events (and their deliveries) older than this are purged by the maintenance pass. */
  retentionDays: number;
  /** Receivers on loopback, private or link-local addresses (default: outside production only). */
  allowPrivate: boolean;
  /** Receivers over plain http (default: outside production only). */
  allowHttp: boolean;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

/** TRUST_PROXY: unset or false, a hop count, or a comma-separated list of addresses and CIDR ranges. */
function trustProxy(env: Env): boolean | number | string[] {
  const raw = env.TRUST_PROXY?.trim();
  if (!raw || raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((part) => part.trim()).filter(Boolean);
  if (list.some((part) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(part) && !['loopback', 'linklocal', 'uniquelocal'].includes(part))) {
    throw new ConfigError(`TRUST_PROXY must be false, a hop count, or addresses and CIDR ranges separated by commas, got "${raw}"`);
  }
  return list;
}

/** PARTNER_TOKEN_TTL_SECONDS: 60 s to 24 h, default 15 minutes. */
function partnerTokenTtl(env: Env): number {
  const ttl = int(env, 'PARTNER_TOKEN_TTL_SECONDS', 900, 60);
  if (ttl > 86_400) throw new ConfigError(`PARTNER_TOKEN_TTL_SECONDS must be at most 86400 (24 hours), got "${ttl}"`);
  return ttl;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function databaseTarget(env: Env): DatabaseTarget {
  const url = env.DATABASE_URL;
  const readUrl = env.DATABASE_READ_URL || null;
  const isPostgres = (u: string) => u.startsWith('postgres://') || u.startsWith('postgresql://');
  if (readUrl !== null && !(url && isPostgres(url))) throw new ConfigError('DATABASE_READ_URL needs DATABASE_URL=postgres://… (a replica of that server)');
  if (readUrl !== null && !isPostgres(readUrl)) throw new ConfigError('DATABASE_READ_URL must be postgres://…');
  if (!url) return { kind: 'pglite', dataDir: env.PGLITE_DATA_DIR || './data/pglite' };
  if (url === 'pglite://memory') return { kind: 'pglite', dataDir: null };
  if (url.startsWith('pglite://')) return { kind: 'pglite', dataDir: url.slice('pglite://'.length) };
  if (isPostgres(url)) return { kind: 'postgres', url, readUrl };
  throw new ConfigError('DATABASE_URL must be postgres://…, pglite://memory or pglite://<dir>');
}

/** RATE_LIMIT_STORE, REDIS_URL and REDIS_KEY_PREFIX (see RateLimitStore). */
function rateLimitStore(env: Env): RateLimitStore {
  const url = env.REDIS_URL || null;
  if (url !== null && !/^rediss?:\/\/\S+$/.test(url)) throw new ConfigError('REDIS_URL must be redis://[user:password@]host:port[/db] (or rediss:// for TLS)');
  const kind = env.RATE_LIMIT_STORE || (url ? 'redis' : 'memory');
  if (kind === 'memory' || kind === 'postgres') return { kind };
  if (kind !== 'redis') throw new ConfigError(`RATE_LIMIT_STORE must be memory, postgres or redis, got "${kind}"`);
  if (!url) throw new ConfigError('RATE_LIMIT_STORE=redis needs REDIS_URL');
  const keyPrefix = env.REDIS_KEY_PREFIX || 'milepost';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(keyPrefix)) throw new ConfigError('REDIS_KEY_PREFIX must be 1-64 letters, digits, _ . : or -');
  return { kind, url, keyPrefix };
}

/** NATS_URL (nats:// or tls://, comma-separated for a cluster), NATS_STREAM, NATS_SUBJECT_PREFIX. */
function natsStream(env: Env): Config['stream'] {
  const url = env.NATS_URL || null;
  if (url !== null && !url.split(',').every((server) => /^(nats|tls):\/\/[^\s/]+$/.test(server.trim()))) {
    throw new ConfigError('NATS_URL must be nats://host:port (or tls://…), comma-separated for several servers');
  }
  const stream = env.NATS_STREAM || 'MILEPOST';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(stream)) throw new ConfigError('NATS_STREAM must be 1-64 letters, digits, _ or -');
  const subjectPrefix = env.NATS_SUBJECT_PREFIX || 'milepost';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix)) throw new ConfigError('NATS_SUBJECT_PREFIX must be dot-separated tokens of letters, digits, _ or -');
  return { url, stream, subjectPrefix };
}

/** Reads and validates the configuration; throws ConfigError on anything unusable. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  const production = nodeEnv === 'production';
  const publicKey = env.JWT_PUBLIC_KEY ? env.JWT_PUBLIC_KEY.replace(/\\n/g, '\n') : null;
  const secret = env.JWT_SECRET || (publicKey ? null : DEV_JWT_SECRET);
  if (production && secret === DEV_JWT_SECRET) {
    throw new ConfigError('JWT_SECRET must be set to a real secret when NODE_ENV=production');
  }
  if (secret !== null && secret.length < 16) {
    throw new ConfigError('JWT_SECRET must be at least 16 characters');
  }
  const testClockEnabled = bool(env, 'TEST_CLOCK_ENABLED', false);
  if (production && testClockEnabled) {
    throw new ConfigError('TEST_CLOCK_ENABLED cannot be used when NODE_ENV=production');
  }
  return {
    nodeEnv,
    production,
    port: int(env, 'PORT', 4000),
    host: env.HOST || '127.0.0.1',
    database: databaseTarget(env),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1),
    dbPoolIdleMs: int(env, 'DB_POOL_IDLE_MS', 300_000, 1),
    dbPipelinedConnections: int(env, 'DB_PIPELINED_CONNECTIONS', 2),
    dbCommitGroup: int(env, 'DB_COMMIT_GROUP', 16, 1),
    jwt: {
      secret,
      publicKey,
      issuer: env.JWT_ISSUER || 'milepost',
      audience: env.JWT_AUDIENCE || 'milepost-api',
    },
    partnerTokenTtlSeconds: partnerTokenTtl(env),
    testClockEnabled,
    introspection: bool(env, 'GRAPHQL_INTROSPECTION', !production),
    explorer: bool(env, 'GRAPHQL_EXPLORER', !production),
    bodyLimit: env.BODY_LIMIT || '100kb',
    logLevel: env.LOG_LEVEL || (nodeEnv === 'test' ? 'silent' : 'info'),
    limits: {
      maxDepth: int(env, 'GRAPHQL_MAX_DEPTH', 10, 1),
      maxAliases: int(env, 'GRAPHQL_MAX_ALIASES', 15, 1),
      maxCost: int(env, 'GRAPHQL_MAX_COST', 5000, 1),
      maxTokens: int(env, 'GRAPHQL_MAX_TOKENS', 2000, 1),
    },
    idempotencyRetentionDays: int(env, 'IDEMPOTENCY_RETENTION_DAYS', 30, 1),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 1200),
    rateLimitStore: rateLimitStore(env),
    trustProxy: trustProxy(env),
    jobIntervalMs: int(env, 'JOB_INTERVAL_MS', production ? 60_000 : 0),
    oneStatementWrites: bool(env, 'LEDGER_ONE_STATEMENT', true),
    stream: natsStream(env),
    webhooks: {
      workers: bool(env, 'WEBHOOK_WORKERS', true),
      pollMs: int(env, 'WEBHOOK_POLL_MS', 250, 10),
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 64, 1),
      timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100),
      retryBaseMs: int(env, 'WEBHOOK_RETRY_BASE_MS', 5_000, 1),
      maxDelayMs: int(env, 'WEBHOOK_RETRY_MAX_MS', 3_600_000, 1),
      horizonMs: int(env, 'WEBHOOK_RETRY_HORIZON_MS', 86_400_000, 1),
      expiringDays: int(env, 'WEBHOOK_EXPIRING_DAYS', 30, 1),
      retentionDays: int(env, 'WEBHOOK_RETENTION_DAYS', 7, 1),
      allowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE', !production),
      allowHttp: bool(env, 'WEBHOOK_ALLOW_HTTP', !production),
    },
  };
}
