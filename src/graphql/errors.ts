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
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };
    if (original instanceof AppError) {
      return { ...base, message: original.message, extensions: { code: original.code, ...original.details } };
    }
    const code = formatted.extensions?.code as string | undefined;
    if (code && CONTRACT_CODES.has(code as ErrorCode)) {
      return { ...base, extensions: { code } };
    }
    if (code && CLIENT_CODES.has(code)) {
      return { ...base, extensions: { code: 'BAD_USER_INPUT' } };
    }
    if (isQueryLimit(formatted)) {
      return { ...base, extensions: { code: 'LIMIT_EXCEEDED' } };
    }
    const errorId = randomUUID();
    logger.error({ err: original, errorId, path: formatted.path }, 'unexpected error');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR', errorId } };
  };
}

// graphql-armor reports its limits as validation errors that carry no code of their own.
function isQueryLimit(formatted: GraphQLFormattedError): boolean {
  return /^Syntax Error: (Token|Query|Directive)|^(Syntax )?Error: .*(limit|exceeded|Max depth|Aliases)/i.test(formatted.message);
}
