import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** Paths polled by orchestrators: answered, never logged. */
const QUIET_PATHS = new Set(['/healthz', '/readyz']);

/** Request headers a log line keeps. Credentials (authorization, cookies) and everything else stay out. */
const LOGGED_HEADERS = ['user-agent', 'content-type', 'content-length', 'x-forwarded-for'] as const;

const GIVEN_ID = /^[\w.-]{1,100}$/;

interface Logged {
  id: string;
  /** As it arrived: routers rewrite req.url on the way down. */
  url: string | undefined;
  logger: Logger | null;
}

const state = new WeakMap<IncomingMessage, Logged>();

/**
 * One line per request once its answer has gone ("request completed", or "request errored" at
 * level error for a 5xx), with the request's id, method, URL, caller address, a few headers, the
 * status and the time taken. The id is the caller's `x-request-id` when it is a sane one, a fresh
 * UUID otherwise, and is echoed in the response's `x-request-id`.
 *
 * A request logs through the root logger; a child bound to the request is made only when the
 * request's own work logs something (requestLogger). A child per request, made up front whether
 * or not anything used it, was a fifth of what a `{ now }` request allocated and kept request
 * objects alive long enough to reach the old generation: more garbage collections under load
 * (BENCHMARKS.md).
 */
export function requestLog(logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    const url = req.url;
    state.set(req, { id, url, logger: null });
    res.setHeader('x-request-id', id);
    if (!QUIET_PATHS.has(url ?? '')) {
      const started = Date.now();
      const done = () => {
        res.removeListener('finish', done);
        res.removeListener('close', done);
        const line = { req: requestForLog(req, id, url), res: { statusCode: res.statusCode }, responseTime: Date.now() - started };
        if (res.statusCode >= 500) logger.error(line, 'request errored');
        else logger.info(line, 'request completed');
      };
      res.on('finish', done);
      res.on('close', done);
    }
    next();
  };
}

/** The request's id (requestLog), or '' for a request that did not pass through it. */
export function requestId(req: IncomingMessage): string {
  return state.get(req)?.id ?? '';
}

/**
 * A child of `root` whose lines carry the request (id, method, URL…), made on first use; `root`
 * itself for a request that did not pass through requestLog.
 */
export function requestLogger(req: IncomingMessage, root: Logger): Logger {
  const logged = state.get(req);
  if (!logged) return root;
  logged.logger ??= root.child({ req: requestForLog(req, logged.id, logged.url) });
  return logged.logger;
}

/**
 * What the log says of a request. Every header would include the bearer token, and a token in a
 * log is a credential anyone who reads the log can replay until it expires.
 */
function requestForLog(req: IncomingMessage, id: string, url: string | undefined) {
  const headers: Record<string, unknown> = {};
  for (const name of LOGGED_HEADERS) if (req.headers[name] !== undefined) headers[name] = req.headers[name];
  return { id, method: req.method, url, remoteAddress: req.socket?.remoteAddress, headers };
}
