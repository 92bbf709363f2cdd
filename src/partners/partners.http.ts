/**
 * The partners' two plain-HTTP endpoints: the OAuth 2.0 token endpoint (client credentials,
 * RFC 6749 §4.4) and a settlement as CSV. createApp mounts them; the decisions are in
 * partners.rules.ts and partners.service.ts.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { AppError, RateLimitedError, type ErrorCode } from '../errors';
import { DateTime } from '../graphql/scalars';
import { isRefusal, readTokenRequest, settlementCsv, type OAuthRefusal } from './partners.rules';
import { ClientRefusedError, NoSigningKeyError, issuePartnerToken, partnerSettlement } from './partners.service';

export interface TokenRouteDeps {
  db: Db;
  config: Config;
  logger: Logger;
  /** The service clock: a rotated-out secret's overlap ends by it. */
  now(): Promise<Date>;
  /** Counts one request against `key`'s rate limit; rejects with RateLimitedError past it. */
  limit(key: string): Promise<void>;
}

const TOKEN_PATH = '/oauth/token';

/** POST /oauth/token: a partner's client id and secret (form, JSON or HTTP Basic) for a short-lived PARTNER token. */
export function tokenRoute(deps: TokenRouteDeps): Router {
  const router = express.Router();
  router.post(
    TOKEN_PATH,
    express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 20 }),
    express.json({ limit: '4kb' }),
    async (req: Request, res: Response) => {
      try {
        await deps.limit(`ip:${req.ip}`);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        tooMany(res, error);
        return;
      }
      const request = readTokenRequest(req.body, req.headers.authorization);
      if (isRefusal(request)) {
        refuse(res, request);
        return;
      }
      try {
        const env = { db: deps.db, jwt: deps.config.jwt, ttlSeconds: deps.config.partnerTokenTtlSeconds, now: await deps.now() };
        oauthAnswer(res, 200, await issuePartnerToken(env, request));
      } catch (error) {
        if (error instanceof ClientRefusedError) {
          refuse(res, { error: 'invalid_client', description: 'Unknown client, wrong secret, or inactive partner', basic: request.basic });
        } else if (error instanceof RateLimitedError) {
          tooMany(res, error);
        } else if (error instanceof NoSigningKeyError) {
          oauthAnswer(res, 501, {
            error: 'server_error',
            error_description: 'This server only verifies tokens (JWT_PUBLIC_KEY without JWT_SECRET): partner tokens come from the issuer that holds the private key',
          });
        } else {
          throw error;
        }
      }
    },
  );
  router.all(TOKEN_PATH, (_req: Request, res: Response) => {
    res.setHeader('allow', 'POST');
    oauthAnswer(res, 405, { error: 'invalid_request', error_description: 'Use POST' });
  });
  router.use(TOKEN_PATH, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large' || type === 'entity.parse.failed' || type === 'parameters.too.many' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      oauthAnswer(res, 400, { error: 'invalid_request', error_description: 'The request body is not a readable form or JSON object' });
      return;
    }
    const errorId = randomUUID();
    deps.logger.error({ err: error, errorId }, 'token endpoint failed');
    oauthAnswer(res, 500, { error: 'server_error', error_id: errorId });
  });
  return router;
}

/** RFC 6749 §5.1/§5.2: JSON, never cached. */
function oauthAnswer(res: Response, status: number, body: object): void {
  res.setHeader('cache-control', 'no-store');
  res.setHeader('pragma', 'no-cache');
  res.status(status).json(body);
}

/** Past the rate limit, or too many secrets being checked at once: 429 with Retry-After. */
function tooMany(res: Response, error: RateLimitedError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
  oauthAnswer(res, 429, { error: 'temporarily_unavailable', error_description: error.message });
}

function refuse(res: Response, refusal: OAuthRefusal): void {
  const status = refusal.error === 'invalid_client' ? 401 : 400;
  if (status === 401 && refusal.basic) res.setHeader('www-authenticate', 'Basic realm="milepost", charset="UTF-8"');
  oauthAnswer(res, status, { error: refusal.error, error_description: refusal.description });
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_USER_INPUT: 400, NOT_FOUND: 404, RATE_LIMITED: 429,
};

/**
 * GET /partners/<id>/settlement.csv?from=…&to=…: partnerSettlement as CSV, with the same bearer
 * token and access rule. Failures answer in the API's error shape with their HTTP status.
 */
export function settlementCsvRoute(contextFor: (req: Request) => Promise<Ctx>, logger: Logger): Router {
  const router = express.Router();
  router.get('/partners/:partnerId/settlement.csv', async (req: Request, res: Response) => {
    res.setHeader('cache-control', 'no-store');
    try {
      const ctx = await contextFor(req);
      await ctx.rateCount?.settled();
      const from = instant(req.query.from, 'from');
      const to = instant(req.query.to, 'to');
      const partnerId = String(req.params.partnerId);
      const settlement = await partnerSettlement(ctx, partnerId, from, to);
      const day = (at: Date) => at.toISOString().slice(0, 10);
      res.type('text/csv; charset=utf-8');
      res.setHeader('content-disposition', `attachment; filename="settlement-${settlement.partnerId}-${day(from)}-${day(to)}.csv"`);
      res.send(settlementCsv(settlement));
    } catch (error) {
      httpError(res, error, logger);
    }
  });
  return router;
}

function instant(value: unknown, field: string): Date {
  if (typeof value !== 'string' || value === '') throw new AppError('BAD_USER_INPUT', `${field} is required: an ISO-8601 instant with an offset`, { field });
  try {
    return DateTime.parseValue(value) as Date;
  } catch (error) {
    throw new AppError('BAD_USER_INPUT', `${field}: ${(error as Error).message}`, { field });
  }
}

/** An error as the API's JSON error shape: the code's HTTP status, a masked message for anything unexpected. */
function httpError(res: Response, error: unknown, logger: Logger): void {
  const extensions = (error as { extensions?: { code?: unknown; http?: { status?: number; headers?: Map<string, string> } } }).extensions;
  if (error instanceof AppError) {
    if (error instanceof RateLimitedError && error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
    res.status(STATUS[error.code] ?? 400).json({ errors: [{ message: error.message, extensions: { code: error.code, ...error.details } }] });
    return;
  }
  if (typeof extensions?.code === 'string' && extensions.http?.status) {
    // Authentication and rate-limit refusals built for GraphQL answers (createApp's context).
    for (const [name, value] of extensions.http.headers ?? []) res.setHeader(name, value);
    res.status(extensions.http.status).json({ errors: [{ message: (error as Error).message, extensions: { code: extensions.code } }] });
    return;
  }
  const errorId = randomUUID();
  logger.error({ err: error, errorId }, 'settlement export failed');
  res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', errorId } }] });
}
