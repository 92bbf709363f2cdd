const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Sorts before every uuid: where a walk of rows in id order starts. */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Whether `value` is a uuid as the database stores row ids (a lookup by anything else finds nothing). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
