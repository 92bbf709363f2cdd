import type { Selectable } from 'kysely';
import type { MemberTable } from './schema';

/** A member row as the drivers read it. */
export type MemberRow = Selectable<MemberTable>;

/**
 * A member row as to_json gives it (timestamps as ISO text), typed as the driver types a
 * selected row. The object the driver parsed is converted in place: nothing else holds it.
 */
export function memberFromJson(json: Record<string, unknown>): MemberRow {
  const at = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));
  json.enrolled_at = at(json.enrolled_at);
  json.created_at = at(json.created_at);
  json.updated_at = at(json.updated_at);
  json.last_activity_at = at(json.last_activity_at);
  return json as unknown as MemberRow;
}
