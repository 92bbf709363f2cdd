/**
 * Errors that carry a contract code (../shared/CONTRACT.md). Anything else that escapes a
 * resolver is masked as INTERNAL_SERVER_ERROR by the GraphQL error formatter.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'INSUFFICIENT_POINTS'
  | 'IDEMPOTENCY_CONFLICT' | 'LIMIT_EXCEEDED' | 'OUT_OF_STOCK' | 'INVALID_STATE' | 'RATE_LIMITED'
  | 'INTERNAL_SERVER_ERROR';

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication required') { super('UNAUTHENTICATED', message); }
}
export class ForbiddenError extends AppError {
  constructor(message = 'Not allowed') { super('FORBIDDEN', message); }
}
export class BadInputError extends AppError {
  /** `at`: where in the field's text the problem is (a rule condition's line and column). */
  constructor(message: string, field?: string, at?: { line: number; column: number }) {
    super('BAD_USER_INPUT', message, { ...(field ? { field } : {}), ...(at ? { line: at.line, column: at.column } : {}) });
  }
}
export class NotFoundError extends AppError {
  constructor(what: string) { super('NOT_FOUND', `${what} not found`); }
}
export class InsufficientPointsError extends AppError {
  constructor(available: number, requested: number) {
    super('INSUFFICIENT_POINTS', `Insufficient points: ${available} available, ${requested} requested`, { available, requested });
  }
}
export class IdempotencyConflictError extends AppError {
  constructor(key: string) {
    super('IDEMPOTENCY_CONFLICT', `Key "${key}" was already used for a different request`);
  }
}
export class OutOfStockError extends AppError {
  constructor(message = 'Out of stock') { super('OUT_OF_STOCK', message); }
}
export class InvalidStateError extends AppError {
  constructor(message: string) { super('INVALID_STATE', message); }
}
export class RateLimitedError extends AppError {
  /** `retryAfterSeconds`: when the caller may try again (the response's Retry-After). */
  constructor(message = 'Too many requests', readonly retryAfterSeconds?: number) {
    super('RATE_LIMITED', message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  }
}

/** PostgreSQL SQLSTATE for a unique violation: checked by code, never by message. */
export const UNIQUE_VIOLATION = '23505';
export const SERIALIZATION_FAILURE = '40001';
export const DEADLOCK_DETECTED = '40P01';
/** A lock not granted within lock_timeout (the shared connections', db/pipelined-pool.ts). */
export const LOCK_NOT_AVAILABLE = '55P03';
/** A unit of work's members changed after it read them (migration 011, ledger/unit-of-work.ts). */
export const MEMBER_CHANGED = 'MP409';
/** A unit of work's write that must change a row found none (migration 014, ledger/unit-of-work.repo.ts Refusal). */
export const WRITE_NOT_KEPT = 'MP410';
/** PostgreSQL SQLSTATE for a violated check constraint. */
export const CHECK_VIOLATION = '23514';

export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
