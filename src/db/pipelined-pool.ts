import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { Client, type ClientConfig } from 'pg';
import { tellOnce } from './lost-connections';
import { isStalePlan, socketOf, type StatementNames } from './prepared-pool';

interface Slot {
  client: Client | null;
  connecting: Promise<Client> | null;
  /** Statements sent on the client and not yet answered. */
  inFlight: number;
  /** Whether the client's socket is corked until the end of this turn of the event loop. */
  corked: boolean;
}

/** A statement waiting for the end of the turn, when the turn's statements leave together. */
interface Pending {
  sql: string;
  parameters: unknown[];
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/**
 * How long a statement on a shared connection waits for a row lock (the connection's
 * lock_timeout) before it gives up: a group's statements then run alone, and a statement alone
 * fails with lock_not_available.
 */
const LOCK_TIMEOUT = '100ms';

/** How the server plans the statements here (see clientOf). */
const PLANNER = ['-c plan_cache_mode=force_generic_plan', '-c enable_hashjoin=off', '-c enable_mergejoin=off'];

/**
 * A few connections that concurrent requests share, for statements that stand alone (the
 * units of work's snapshot reads and writes, ledger/unit-of-work.ts). None waits for another's answer before it leaves:
 * the statements that arrive in one turn of the event loop leave in one write, on the
 * connection with the fewest unanswered, and the server reads them in one go. A pool
 * connection per statement costs each of them a write on the API's side and a wake-up of a
 * backend on the server's; here a busy server pays those once for several requests, as
 * db/batch.ts does for reads.
 *
 * The statements of one turn (up to `groupSize`) also commit together: they run inside one
 * transaction, so the server pays one commit and one flush of its log for all of them, and
 * each statement's answer is handed back only once that commit is in. A statement alone in
 * its turn is autocommitted, as before. To its caller a statement still stands alone:
 *
 * - when any statement of a group fails (a racing duplicate's unique violation), nothing of
 *   the group was committed, and every statement of it runs again alone, on its own
 *   transaction, so the one that fails fails alone and the rest are answered as if they had
 *   never met it;
 * - a statement of a group that waits for a row lock longer than LOCK_TIMEOUT fails the
 *   group the same way. Two groups, or a group and a transaction, each holding a row the
 *   other wants are then untangled at once instead of at the server's deadlock check;
 * - a statement alone waits for a row lock no longer than LOCK_TIMEOUT either, then fails with
 *   lock_not_available (55P03), and its caller takes a path of its own: an optimistic unit of
 *   work falls back to the locked way, whose transaction waits on a pool connection for as
 *   long as it must. Everything sent after a statement on
 *   its connection is answered after it, so a row lock held by a long transaction would
 *   otherwise hold up every request whose statement shares the connection;
 * - a connection lost before the commit was answered leaves the group's fate unknown, so its
 *   statements fail, as a statement alone does on a lost connection: none is run twice.
 *
 * Nothing here may open a transaction of a caller's own: `BEGIN` is refused.
 *
 * Statements are prepared under the names their pool's PreparingPool gives them (one
 * StatementNames for both), and a plan outdated by a schema change is prepared again under a
 * fresh name and the statement run again, as there.
 */
export class PipelinedPool implements PostgresPool {
  private readonly slots: Slot[];
  private closed = false;
  private pending: Pending[] = [];
  /** Set while the turn's statements leave: their sockets are uncorked as soon as all have gone. */
  private leaving: (() => void)[] | null = null;

  /** `groupSize`: the most statements committed together; 1 autocommits each. `lost`: told once of each connection the server closed. */
  constructor(
    private readonly config: ClientConfig,
    size: number,
    private readonly names: StatementNames,
    private readonly groupSize = 1,
    private readonly lost: (error: Error) => void = () => undefined,
  ) {
    this.slots = Array.from({ length: size }, () => ({ client: null, connecting: null, inFlight: 0, corked: false }));
  }

  /** Every caller gets the same handle: it holds nothing of its own, and releasing it does nothing. */
  private readonly handle: PostgresPoolClient = {
    query: (async (sql: string, parameters?: ReadonlyArray<unknown>) => {
      if (/^\s*(begin|start transaction)\b/i.test(sql)) throw new Error('a shared connection runs statements that stand alone, not transactions');
      if (this.groupSize <= 1) return this.alone(sql, [...(parameters ?? [])]);
      return new Promise((resolve, reject) => {
        if (this.pending.push({ sql, parameters: [...(parameters ?? [])], resolve, reject }) === 1) setImmediate(() => this.leave());
      });
    }) as unknown as PostgresPoolClient['query'],
    release: () => undefined,
  };

  async connect(): Promise<PostgresPoolClient> {
    return this.handle;
  }

  async end(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map(async (slot) => {
      const client = slot.client ?? (await slot.connecting?.catch(() => null));
      slot.client = null;
      slot.connecting = null;
      await client?.end().catch(() => undefined);
    }));
  }

  /** Sends the turn's statements: alone when one, otherwise in groups of at most `groupSize`. */
  private leave(): void {
    if (this.pending.length === 0) return;
    const turn = this.pending;
    this.pending = [];
    const uncorks: (() => void)[] = [];
    this.leaving = uncorks;
    try {
      for (let i = 0; i < turn.length; i += this.groupSize) {
        const group = turn.slice(i, i + this.groupSize);
        if (group.length === 1) {
          const [only] = group as [Pending];
          this.alone(only.sql, only.parameters).then(only.resolve, only.reject);
        } else {
          void this.together(group);
        }
      }
    } finally {
      // On a connected slot everything above was sent synchronously: let it go now, not a turn later.
      this.leaving = null;
      for (const uncork of uncorks) uncork();
    }
  }

  /** One statement, autocommitted, on the connection with the fewest unanswered. */
  private async alone(sql: string, parameters: unknown[]): Promise<unknown> {
    const slot = this.pick();
    slot.inFlight++;
    try {
      const client = slot.client ?? (await this.clientOf(slot));
      try {
        return await this.run(slot, client, sql, parameters);
      } catch (error) {
        if (!isStalePlan(error)) throw error;
        this.names.reset();
        return await this.run(slot, client, sql, parameters);
      }
    } finally {
      slot.inFlight--;
    }
  }

  /** Several statements in one transaction on one connection (see the class's comment). */
  private async together(group: Pending[]): Promise<void> {
    const slot = this.pick();
    slot.inFlight += group.length;
    let commit: PromiseSettledResult<{ command?: string }>;
    let answers: PromiseSettledResult<unknown>[];
    try {
      const client = slot.client ?? (await this.clientOf(slot));
      const begin = this.control(slot, client, 'begin');
      const runs = group.map((p) => this.run(slot, client, p.sql, p.parameters));
      const ended = this.control(slot, client, 'commit');
      // BEGIN's own outcome tells nothing the commit's does not (below).
      [commit, , ...answers] = await Promise.allSettled([ended, begin, ...runs]) as [PromiseSettledResult<{ command?: string }>, ...PromiseSettledResult<unknown>[]];
    } catch (error) {
      for (const p of group) p.reject(error);
      return;
    } finally {
      slot.inFlight -= group.length;
    }
    if (commit.status === 'rejected' && !answeredByServer(commit.reason)) {
      // The connection went before the commit was answered: whether the group committed is not known.
      for (const p of group) p.reject(commit.reason);
      return;
    }
    if (commit.status === 'fulfilled' && commit.value.command === 'COMMIT') {
      // Committed: each statement has its answer. (One refused before it reached the server,
      // such as a value the driver cannot send, has its own error; and were BEGIN itself
      // refused, each statement ran as its own transaction, and its answer is its own too.)
      group.forEach((p, i) => settle(p, answers[i] as PromiseSettledResult<unknown>));
      return;
    }
    // Rolled back: nothing of the group was written. Each statement runs again alone.
    for (const p of group) this.alone(p.sql, p.parameters).then(p.resolve, p.reject);
  }

  /** The connection with the fewest statements unanswered (the first such, so an idle server uses one). */
  private pick(): Slot {
    let best = this.slots[0] as Slot;
    for (const slot of this.slots) if (slot.inFlight < best.inFlight) best = slot;
    return best;
  }

  private clientOf(slot: Slot): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    if (slot.client) return Promise.resolve(slot.client);
    slot.connecting ??= (async () => {
      // The lock timeout and the planner's settings are startup parameters of the connection,
      // beside any the config sets (a search_path). Generic plans: the statements here are
      // prepared once and run with new values ever after. A statement here touches a few rows of
      // each table by index, so it joins by nested loops, never by hashing or sorting.
      const options = [this.config.options, `-c lock_timeout=${LOCK_TIMEOUT}`, ...PLANNER].filter(Boolean).join(' ');
      const client = new Client({ ...this.config, options, pipeline: true } as ClientConfig);
      // A lost connection fails what it carried; the next statement opens a new one.
      const drop = () => {
        if (slot.client === client) slot.client = null;
      };
      const tell = tellOnce(this.lost);
      client.on('error', (error: Error) => {
        drop();
        tell(error);
      });
      client.on('end', drop);
      try {
        await client.connect();
      } catch (error) {
        slot.connecting = null;
        throw error;
      }
      slot.client = client;
      slot.connecting = null;
      return client;
    })();
    return slot.connecting;
  }

  /** Sends a statement, prepared under its name, on the slot's corked socket. */
  private run(slot: Slot, client: Client, sql: string, parameters: ReadonlyArray<unknown>) {
    this.cork(slot, client);
    const name = this.names.nameFor(sql);
    const values = parameters as unknown[];
    return name ? client.query({ name, text: sql, values }) : client.query(sql, values);
  }

  /** Sends transaction control (simple protocol, several commands in one message) on the slot's corked socket. */
  private control(slot: Slot, client: Client, sql: string): Promise<{ command?: string }> {
    this.cork(slot, client);
    return client.query(sql) as Promise<{ command?: string }>;
  }

  /** Corks the slot's socket for the rest of this turn, so the turn's messages share a write. */
  private cork(slot: Slot, client: Client): void {
    const stream = socketOf(client);
    if (slot.corked || !stream?.cork || !stream.uncork) return;
    slot.corked = true;
    stream.cork();
    const uncork = () => {
      slot.corked = false;
      stream.uncork?.();
    };
    if (this.leaving) this.leaving.push(uncork);
    else setImmediate(uncork);
  }
}

function settle(p: Pending, outcome: PromiseSettledResult<unknown>): void {
  if (outcome.status === 'fulfilled') p.resolve(outcome.value);
  else p.reject(outcome.reason);
}

/** Whether an error is the server's answer (it carries a SQLSTATE), rather than a connection lost or a driver's refusal. */
function answeredByServer(error: unknown): boolean {
  return typeof (error as { code?: unknown } | null)?.code === 'string';
}
