/**
 * Bulk storage for generated rows: one `INSERT … SELECT FROM unnest(…)` per table, with every
 * column sent as one array parameter. Works the same on PostgreSQL and PGlite, and keeps
 * a block of thousands of rows to a handful of round trips.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../src/db/database';
import type { SeedRows } from './seed-model';

/** Column name → PostgreSQL type each text value is cast to. */
export type Columns = Record<string, string>;

const TABLES: { key: keyof SeedRows; table: string; columns: Columns }[] = [
  {
    key: 'members', table: 'members', columns: {
      id: 'uuid', external_id: 'text', email: 'text', name: 'text', birth_date: 'date', phone: 'text', locale: 'text',
      status: 'text', status_reason: 'text', enrolled_at: 'timestamptz', referral_code: 'text', referred_by: 'uuid',
      debt: 'int', lifetime_earned: 'int', lifetime_redeemed: 'int', expired: 'int', last_activity_at: 'timestamptz',
      created_at: 'timestamptz', updated_at: 'timestamptz',
    },
  },
  {
    key: 'transactions', table: 'points_transactions', columns: {
      id: 'uuid', member_id: 'uuid', type: 'text', points: 'int', qualifying_points: 'int', shortfall: 'int',
      available_at: 'timestamptz', cancelled: 'boolean', description: 'text', order_id: 'text', partner_id: 'text',
      actor: 'text', related_id: 'uuid', occurred_at: 'timestamptz', created_at: 'timestamptz',
    },
  },
  {
    key: 'lots', table: 'point_lots', columns: {
      id: 'uuid', member_id: 'uuid', txn_id: 'uuid', points: 'int', remaining: 'int', available_at: 'timestamptz',
      expires_at: 'timestamptz', earned_at: 'timestamptz',
    },
  },
  { key: 'allocations', table: 'lot_allocations', columns: { member_id: 'uuid', txn_id: 'uuid', lot_id: 'uuid', points: 'int', kind: 'text' } },
  {
    key: 'orders', table: 'orders', columns: {
      order_id: 'text', member_id: 'uuid', partner_id: 'text', amount: 'numeric', currency: 'text', channel: 'text',
      items: 'jsonb', occurred_at: 'timestamptz', txn_id: 'uuid', points_earned: 'int', qualifying_points: 'int',
      breakdown: 'jsonb', refunded_amount: 'numeric', points_reversed: 'int', qualifying_reversed: 'int',
      request_hash: 'text', created_at: 'timestamptz',
    },
  },
  {
    key: 'refunds', table: 'refunds', columns: {
      refund_id: 'text', order_id: 'text', member_id: 'uuid', amount: 'numeric', txn_id: 'uuid', points_reversed: 'int',
      request_hash: 'text', created_at: 'timestamptz',
    },
  },
  {
    key: 'idempotencyKeys', table: 'idempotency_keys', columns: {
      scope: 'text', key: 'text', member_id: 'uuid', operation: 'text', request_hash: 'text', result: 'jsonb',
      created_at: 'timestamptz', expires_at: 'timestamptz',
    },
  },
  {
    key: 'events', table: 'member_events', columns: {
      id: 'uuid', member_id: 'uuid', scope: 'text', idempotency_key: 'text', request_hash: 'text', type: 'text', attributes: 'jsonb',
      occurred_at: 'timestamptz', txn_id: 'uuid', points_earned: 'int', breakdown: 'jsonb', created_at: 'timestamptz',
    },
  },
  {
    key: 'surveyResponses', table: 'survey_responses', columns: {
      id: 'uuid', member_id: 'uuid', score: 'smallint', comment: 'text', channel: 'text', scope: 'text', idempotency_key: 'text',
      request_hash: 'text', created_at: 'timestamptz',
    },
  },
  {
    key: 'complaints', table: 'complaints', columns: {
      id: 'uuid', member_id: 'uuid', category: 'text', description: 'text', channel: 'text', status: 'text', resolution: 'text',
      goodwill_points: 'int', goodwill_txn_id: 'uuid', scope: 'text', idempotency_key: 'text', request_hash: 'text',
      resolve_scope: 'text', resolve_key: 'text', resolve_hash: 'text', created_at: 'timestamptz', resolved_at: 'timestamptz',
    },
  },
];

export const TABLE_NAMES = TABLES.map((t) => t.table);

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** `INSERT … SELECT FROM unnest(…)` of `rows` into `table`, every column one text[] parameter cast to its type. */
export function insertStatement(table: string, columns: Columns, rows: readonly object[]): RawBuilder<unknown> {
  const names = Object.keys(columns);
  const arrays = names.map((name) => rows.map((row) => text((row as Record<string, unknown>)[name])));
  const unnest = sql.join(arrays.map((values) => sql`${values}::text[]`));
  const select = sql.join(names.map((name) => sql`${sql.ref(`u.${name}`)}::${sql.raw(columns[name] as string)}`));
  return sql`insert into ${sql.table(table)} (${sql.join(names.map((n) => sql.ref(n)))})
    select ${select} from unnest(${unnest}) as u(${sql.join(names.map((n) => sql.ref(n)))})`;
}

/** Stores one generated block atomically (parents before children); returns rows per table. */
export async function writeBlock(db: Db, rows: SeedRows): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await db.transaction().execute(async (tx) => {
    // Seed data can be regenerated: skip the WAL flush per commit.
    await sql`set local synchronous_commit = off`.execute(tx);
    for (const { key, table, columns } of TABLES) {
      const list = rows[key];
      counts[table] = list.length;
      if (list.length > 0) await insertStatement(table, columns, list).execute(tx);
    }
  });
  return counts;
}
