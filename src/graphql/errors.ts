import { randomUUID } from 'node:crypto';
import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from 'pino';
import { AppError, type ErrorCode } from '../errors';

// Apollo's own codes for requests the client got wrong; all are the caller's bad input.
const CLIENT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED',
]);
const CONTRACT_CODES = new Set<ErrorCode>([
  'UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'INSUFFICIENT_POINTS',
  'IDEMPOTENCY_CONFLICT', 'LIMIT_EXCEEDED', 'OUT_OF_STOCK', 'INVALID_STATE', 'RATE_LIMITED',
]);

/**
 * Maps every error to a contract code. Typed AppErrors keep their code and message; known
 * client errors become BAD_USER_INPUT (query limits LIMIT_EXCEEDED); anything else is masked
 * as INTERNAL_SERVER_ERROR with an errorId that is also logged.
 */
export function createErrorFormatter(logger: Logger, { hideSuggestions = false }: { hideSuggestions?: boolean } = {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    // graphql-js names the schema's fields and enum values it guesses were meant: in
    // production the schema is the caller's to read from the docs, not from error messages.
    const message = shortened(hideSuggestions ? formatted.message.replace(SUGGESTION, '') : formatted.message);
    const base = { message, locations: formatted.locations, path: formatted.path };
    if (original instanceof AppError) {
      return { ...base, message: original.message, extensions: { code: original.code, ...original.details } };
    }
    const code = formatted.extensions?.code as string | undefined;
    if (code && CONTRACT_CODES.has(code as ErrorCode)) {
      const field = formatted.extensions?.field;
      return { ...base, extensions: typeof field === 'string' ? { code, field } : { code } };
    }
    // Limits arrive as parse or validation failures, so they are told apart before those.
    if (code && CLIENT_CODES.has(code)) {
      return { ...base, extensions: { code: isQueryLimit(formatted) ? 'LIMIT_EXCEEDED' : 'BAD_USER_INPUT' } };
    }
    // Apollo refuses some requests with only an HTTP status (an automatic persisted query whose
    // hash does not match its text, say): a 4xx is the caller's to fix.
    if (isClientStatus(original)) return { ...base, extensions: { code: 'BAD_USER_INPUT' } };
    const errorId = randomUUID();
    logger.error({ err: original, errorId, path: formatted.path }, 'unexpected error');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR', errorId } };
  };
}

// graphql-armor reports its depth, alias, cost and directive limits as validation errors, and
// graphql-js its token limit as a parse error; none carries a code of its own, only its message.
const QUERY_LIMIT = /^Syntax Error: (?:(?:Query depth|Aliases|Query Cost|Directives|Token) limit of \d+ exceeded|Document contains more th(?:at|an) \d+ tokens)/;

const SUGGESTION = / ?Did you mean(.+?)\?$/;

// graphql-js quotes the value it refused (a variable of the wrong type, an unknown enum value)
// in full: an answer quotes at most the start of each such value, and stays short.
const QUOTED = /"((?:[^"\\]|\\.)*)"/g;
const MAX_QUOTE = 64;
const MAX_MESSAGE = 1_000;

function shortened(message: string): string {
  if (message.length <= 200) return message;
  const quoted = message.replace(QUOTED, (whole, inner: string) => (inner.length > MAX_QUOTE ? `"${inner.slice(0, MAX_QUOTE)}…"` : whole));
  return quoted.length > MAX_MESSAGE ? `${quoted.slice(0, MAX_MESSAGE)}…` : quoted;
}

function isClientStatus(error: unknown): boolean {
  const status = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

function isQueryLimit(formatted: GraphQLFormattedError): boolean {
  return QUERY_LIMIT.test(formatted.message);
}
