import http from 'node:http';
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestListener } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, parse } from 'graphql';
import pino, { type Logger } from 'pino';
import type { Config } from './config';
import type { Database } from './db/database';
import type { Ctx } from './context';
import { verifyToken, type Actor } from './auth/jwt';
import { systemClock, testClock, type Clock } from './clock/clock';
import { AppError, RateLimitedError } from './errors';
import { createErrorFormatter } from './graphql/errors';
import { assertGuarded, loadTypeDefs } from './graphql/schema';
import { buildResolvers } from './resolvers';
import { explorerRoute } from './graphql/explorer';
import { consoleRoute } from './console.http';
import { createRateLimiter } from './graphql/rate-limit';
import { requestChecks } from './graphql/request-checks';
import { actorKey } from './auth/guards';
import { requestId, requestLog, requestLogger } from './request-log';
import { admitPartner } from './partners/partners.service';
import { settlementCsvRoute, tokenRoute } from './partners/partners.http';

export interface AppDeps {
  config: Config;
  database: Database;
  logger?: Logger;
  clock?: Clock;
}

export interface App {
  app: express.Express;
  httpServer: http.Server;
  apollo: ApolloServer<Ctx>;
  logger: Logger;
  /** Stops Apollo (draining in-flight requests) and the rate limiter's store; the caller closes the database. */
  stop(): Promise<void>;
}

/** Builds Express + Apollo over the given database. It never listens: main.ts and tests do. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, database } = deps;
  const logger = deps.logger ?? pino({ level: config.logLevel });
  const clock = deps.clock ?? (config.testClockEnabled ? testClock(database.db) : systemClock);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  const httpServer = http.createServer(app);
  // PostgreSQL counts ride ahead of other statements only on a pipelining pool (db/ahead.ts).
  const limiter = createRateLimiter({ db: database.db, logger, carry: database.kind === 'postgres' }, config.rateLimitPerMinute, config.rateLimitStore);
  const formatError = createErrorFormatter(logger, { hideSuggestions: config.production });

  const typeDefs = loadTypeDefs();
  const resolvers = buildResolvers();
  assertGuarded(resolvers, rootFields(typeDefs));

  const armor = new ApolloArmor({
    maxDepth: { n: config.limits.maxDepth },
    maxAliases: { n: config.limits.maxAliases },
    costLimit: { maxCost: config.limits.maxCost },
    // graphql-armor's token plugin parses inside a plugin hook, so a plain syntax error became
    // an HTTP 500; graphql-js enforces the same limit as a proper parse error (parseOptions below).
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: config.production },
  });
  const protection = armor.protect();
  const apollo = new ApolloServer<Ctx>({
    typeDefs,
    resolvers: resolvers as never,
    introspection: config.introspection,
    // Bearer tokens, not cookies, authenticate callers, so browsers cannot forge requests.
    csrfPrevention: false,
    formatError,
    ...protection,
    parseOptions: { maxTokens: config.limits.maxTokens },
    includeStacktraceInErrorResponses: false,
    // main.ts owns SIGTERM/SIGINT. Apollo's own handlers would stop the server a second time and
    // re-raise the signal, leaving our shutdown waiting forever and the database never closed.
    stopOnTerminationSignals: false,
    plugins: [
      ...protection.plugins,
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // No type or field carries a cache hint, so every answer is uncacheable: the header is set
      // once per response below, instead of Apollo's plugin computing a policy for every field.
      ApolloServerPluginCacheControlDisabled(),
      requestChecks(),
      rateVerdict(formatError),
    ],
    validationRules: [...protection.validationRules],
  });
  await apollo.start();

  /** Who is calling and what the request works with: GraphQL's context, and the settlement export's. */
  const contextFor = async (req: Request): Promise<Ctx> => {
    let actor: Actor | null;
    try {
      actor = authenticate(config, req.headers.authorization);
      // A PARTNER token counts only while its partner is registered and active, whoever issued it.
      if (actor?.role === 'PARTNER') {
        await admitPartner(database.db, actor).catch((refused: unknown) => (refused instanceof AppError ? refuseToken(refused) : Promise.reject(refused)));
      }
    } catch (error) {
      // A failed authentication counts against the caller's address, so guessing tokens is
      // limited like anything else; past the limit the answer is 429, not 401.
      await limiter?.count(`ip:${req.ip}`).settled().catch((refused: unknown) => {
        if (refused instanceof RateLimitedError) throw rateLimitedResponse(refused);
        throw refused;
      });
      throw error;
    }
    // Counted now, sent with the request's first statement or before its answer (rateVerdict).
    const rateCount = limiter ? limiter.count(actor ? actorKey(actor) : `ip:${req.ip}`) : null;
    let instant: Promise<{ at: Date; frozen: boolean }> | undefined;
    const read = () => (instant ??= clock.read ? clock.read() : clock.now().then((at) => ({ at, frozen: false })));
    return {
      actor,
      db: database.db,
      statements: database.statements,
      reads: database.reads,
      config,
      log: () => requestLogger(req, logger),
      requestId: requestId(req),
      rateCount,
      now: async () => (await read()).at,
      // A frozen test clock stays where it was set: every request then shares its instant.
      notBefore: async (at) => {
        const current = await read();
        if (current.frozen || current.at.getTime() >= at.getTime()) return current.at;
        instant = Promise.resolve({ at, frozen: false });
        return at;
      },
    };
  };

  app.use(requestLog(logger));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const ok = await database.ping();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'database unavailable' });
  });
  if (config.explorer) app.get('/graphql', explorerRoute);
  app.use(consoleRoute());
  app.use(
    '/graphql',
    express.json({ limit: config.bodyLimit, type: ['application/json', 'application/graphql-response+json'] }),
    (_req: Request, res: Response, next: NextFunction) => {
      res.setHeader('cache-control', 'no-store');
      next();
    },
    expressMiddleware(apollo, { context: ({ req }) => contextFor(req) }),
  );
  app.use(tokenRoute({
    db: database.db, config, logger, now: () => clock.now(),
    limit: (key) => (limiter ? limiter.count(key).settled() : Promise.resolve()),
  }));
  app.use(settlementCsvRoute(contextFor, logger));
  // Anything else is not part of the API: a JSON answer in the API's error shape, not Express's HTML page.
  app.use((req: Request, res: Response) => {
    res.status(404).json({ errors: [{ message: `No such endpoint: ${req.method} ${req.path}`, extensions: { code: 'NOT_FOUND' } }] });
  });
  app.use(bodyErrors(logger));

  return {
    app,
    httpServer,
    apollo,
    logger,
    stop: async () => {
      await apollo.stop();
      await limiter?.close();
    },
  };
}

/** A refused count as an error Apollo answers with HTTP 429 and Retry-After. */
function rateLimitedResponse(error: RateLimitedError): GraphQLError {
  const headers = new Map(error.retryAfterSeconds === undefined ? [] : [['retry-after', String(error.retryAfterSeconds)]]);
  return new GraphQLError(error.message, {
    extensions: { code: 'RATE_LIMITED', ...error.details, http: { status: 429, headers } },
  });
}

function authenticate(config: Config, header: string | undefined): Actor | null {
  if (header === undefined || header === '') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  try {
    if (!match) throw new AppError('UNAUTHENTICATED', 'Authorization must be "Bearer <token>"');
    return verifyToken(config.jwt, match[1] as string);
  } catch (error) {
    return refuseToken(error);
  }
}

/** A token refused, as the error Apollo answers with HTTP 401 UNAUTHENTICATED. */
function refuseToken(error: unknown): never {
  const message = error instanceof AppError ? error.message : 'Invalid token';
  throw new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

/**
 * Every request waits for its rate-limit verdict before it answers; where the count has not left
 * with a statement of the request's, it goes now. Past the limit the whole answer is
 * RATE_LIMITED with HTTP 429, whatever the operation returned: nothing it did was written (a
 * refused count fails every write that follows it, see db/ahead.ts).
 */
function rateVerdict(formatError: ReturnType<typeof createErrorFormatter>): ApolloServerPlugin<Ctx> {
  const listener: GraphQLRequestListener<Ctx> = {
    async willSendResponse({ contextValue, response }) {
      try {
        await contextValue.rateCount?.settled();
      } catch (error) {
        response.http.status = error instanceof RateLimitedError ? 429 : 500;
        if (error instanceof RateLimitedError && error.retryAfterSeconds !== undefined) {
          response.http.headers.set('retry-after', String(error.retryAfterSeconds));
        }
        response.body = { kind: 'single', singleResult: { errors: [formatError(new GraphQLError(String((error as Error).message)), error)] } };
      }
    },
  };
  // One listener serves every request: it keeps nothing of its own.
  const started = Promise.resolve(listener);
  return { requestDidStart: () => started };
}

/** Body-parser failures (oversized, malformed JSON) answered as GraphQL errors, never as stack traces. */
function bodyErrors(logger: Logger) {
  return (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') {
      res.status(413).json({ errors: [{ message: 'Request body too large', extensions: { code: 'LIMIT_EXCEEDED' } }] });
      return;
    }
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      res.status(400).json({ errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_USER_INPUT' } }] });
      return;
    }
    const errorId = randomUUID();
    logger.error({ err: error, errorId }, 'unexpected HTTP error');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', errorId } }] });
  };
}

function rootFields(typeDefs: string): { Query: string[]; Mutation: string[] } {
  const fields = { Query: [] as string[], Mutation: [] as string[] };
  for (const def of parse(typeDefs).definitions) {
    if ((def.kind === 'ObjectTypeDefinition' || def.kind === 'ObjectTypeExtension') && (def.name.value === 'Query' || def.name.value === 'Mutation')) {
      fields[def.name.value].push(...(def.fields ?? []).map((f) => f.name.value));
    }
  }
  return fields;
}
