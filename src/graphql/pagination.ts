import { BadInputError } from '../errors';

/** A connection's page; the total is counted only if the query selects totalCount. */
export interface CountedPage<N> {
  edges: { cursor: string; node: N }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  countTotal: () => Promise<number>;
}

/** Opaque cursors: base64url of the sort key. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(parts.join('|')).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): string[] {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== arity || parts.some((p) => p === '')) throw new BadInputError('Invalid cursor', 'after');
  return parts;
}

export function checkPageSize(first: number | null | undefined, max = 100): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > max) throw new BadInputError(`first must be between 1 and ${max}`, 'first');
  return size;
}
