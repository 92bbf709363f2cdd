import { CompiledQuery } from 'kysely';
import type { Db } from './database';

/**
 * A statement a request owes the database before its own work: its rate-limit count. It need
 * not cost a round trip of its own. Carried onto the connection of the request's first
 * statement, it leaves in the same write, ahead of that statement (and ahead of a held-back
 * BEGIN, so a transaction that rolls back still counts). Until its verdict is in, that
 * connection runs nothing further (PreparingPool), so a request refused by the verdict writes
 * nothing.
 */
export interface Ahead {
  /** Whether the statement can still ride ahead of another: not sent yet, on a database whose pool carries it. */
  readonly rides: boolean;
  /** Queues the statement on `db`'s connection, to leave with its next statement. False when it does not ride. */
  carryOn(db: Db): boolean;
  /** Sends the statement now unless it has gone, and waits for its verdict (which may refuse the request). */
  settled(): Promise<void>;
  /**
   * Hands the statement over to run inside one of the request's own statements, as a CTE,
   * when it has not gone and the database carries it (as `rides`); null otherwise. The request
   * then pays no statement for it at all (a unit of work's snapshot read carries it).
   */
  embed(): Embedded | null;
}

/** An owed statement running inside another (see Ahead.embed). */
export interface Embedded {
  /** The statement, to be the body of a CTE: a data-modifying statement with RETURNING, numbered placeholders. */
  text: string;
  values: readonly unknown[];
  /** Passes on the CTE's row, which gives the verdict as the statement's own answer would. */
  answer(row: Record<string, unknown>): void;
  /** The carrying statement failed, so the owed statement was rolled back with it: it is owed again. */
  owedAgain(): void;
}

/** Who waits for an owed statement: its answer goes to `answer` (or `fail`), and `verdict` gates the connection. */
export interface Owed {
  verdict: Promise<void>;
  answer(result: { rows: unknown[]; rowCount: number | null }): void;
  fail(error: unknown): void;
}

const MARKER = '/* ahead ';
const owedByToken = new Map<number, Owed>();
let nextToken = 0;

/**
 * The statement as the pool recognises it. The pool acknowledges it at once with no rows (Kysely
 * runs one statement at a time on a connection, so nothing could follow one that waited) and
 * sends it with the connection's next statement; its real answer goes to `owed`. The pool strips
 * the marker before it names the statement, so every such statement shares one prepared statement.
 */
export function aheadStatement(sql: string, parameters: readonly unknown[], owed: Owed): CompiledQuery {
  const token = nextToken++;
  owedByToken.set(token, owed);
  return CompiledQuery.raw(`${MARKER}${token} */ ${sql}`, [...parameters]);
}

/** The statement and its waiter behind a marked text, or null for any other statement. Each is handed out once. */
export function takeAhead(sql: string): (Owed & { sql: string }) | null {
  if (!sql.startsWith(MARKER)) return null;
  const end = sql.indexOf(' */ ', MARKER.length);
  const token = Number(sql.slice(MARKER.length, end));
  const owed = owedByToken.get(token);
  owedByToken.delete(token);
  if (!owed) throw new Error('a statement owed ahead was run twice');
  return { ...owed, sql: sql.slice(end + 4) };
}

/**
 * Runs the read `read` on one connection that also carries what `owed` still holds, so the
 * requests behind them pay no round trip for it. Reads only: nothing here waits for a verdict,
 * so the caller must not write (its request checks the verdict before it answers).
 */
export async function readCarrying<T>(db: Db, owed: readonly (Ahead | null | undefined)[], read: (db: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction || !owed.some((ahead) => ahead?.rides)) return read(db);
  return db.connection().execute(async (connection) => {
    for (const ahead of owed) ahead?.carryOn(connection);
    return read(connection);
  });
}
