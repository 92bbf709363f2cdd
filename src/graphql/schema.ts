import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Resolvers } from './generated';
import { policyOf } from '../auth/guards';

const SCHEMA_DIR = join(__dirname, '..', '..', 'schema');

/** The SDL files in schema/, concatenated in name order (common first). */
export function loadTypeDefs(dir = SCHEMA_DIR): string {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.graphql'))
    .sort((a, b) => (a === 'common.graphql' ? -1 : b === 'common.graphql' ? 1 : a.localeCompare(b)))
    .map((file) => readFileSync(join(dir, file), 'utf8'))
    .join('\n');
}

/** Merges the domains' resolver maps; a field defined twice is a programming error. */
export function mergeResolvers(...maps: Resolvers[]): Resolvers {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const map of maps) {
    for (const [typeName, fields] of Object.entries(map)) {
      if (typeof (fields as object) !== 'object' || fields === null || !isPlainFieldMap(fields)) {
        merged[typeName] = fields as Record<string, unknown>;
        continue;
      }
      const target = (merged[typeName] ??= {});
      for (const [field, resolver] of Object.entries(fields as Record<string, unknown>)) {
        if (field in target) throw new Error(`Resolver ${typeName}.${field} is defined twice`);
        target[field] = resolver;
      }
    }
  }
  return merged as Resolvers;
}

function isPlainFieldMap(value: unknown): boolean {
  return Object.getPrototypeOf(value) === Object.prototype;
}

/** Deny by default: every root field must carry an access policy (see auth/guards). */
export function assertGuarded(resolvers: Resolvers, rootFields: { Query: string[]; Mutation: string[] }): void {
  for (const root of ['Query', 'Mutation'] as const) {
    const map = (resolvers[root] ?? {}) as Record<string, unknown>;
    for (const field of rootFields[root]) {
      if (!map[field]) throw new Error(`${root}.${field} has no resolver`);
      if (!policyOf(map[field])) throw new Error(`${root}.${field} has no access policy`);
    }
  }
}
