import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { Client, type ClientConfig } from 'pg';
import { isStalePlan, socketOf, type StatementNames } from './prepared-pool';

interface Slot {
  client: Client | null;
  connecting: Promise<Client> | null;
  /** Statements sent on the client and not yet answered. */
  inFlight: number;
  /** Whether the client's socket is corked until the end of this turn of the event loop. */
  corked: boolean;
}

/**
 * A few connections that concurrent requests share, for statements that stand alone: each is
 * autocommitted, so it is its own transaction, and none waits for another's answer before it
 * leaves. Statements that arrive in one turn of the event loop leave in one write, and the
 * server reads them in one go and answers each as it commits. A pool connection per statement
 * costs each of them a write on the API's side and a wake-up of a backend on the server's;
 * here a busy server pays those once for several requests, as db/batch.ts does for reads.
 *
 * Each statement keeps its own transaction, so one that fails (a racing duplicate's unique
 * violation) fails alone. One that waits for a row lock holds back those sent after it on the
 * same connection until it ends; a statement goes to the connection with the fewest
 * unanswered. Nothing here may open a transaction: `BEGIN` is refused.
 *
 * Statements are prepared under the names their pool's PreparingPool gives them (one
 * StatementNames for both), and a plan outdated by a schema change is prepared again under a
 * fresh name and the statement run again, as there.
 */
export class PipelinedPool implements PostgresPool {
  private readonly slots: Slot[];
  private closed = false;

  constructor(private readonly config: ClientConfig, size: number, private readonly names: StatementNames) {
    this.slots = Array.from({ length: size }, () => ({ client: null, connecting: null, inFlight: 0, corked: false }));
  }

  /** Every caller gets the same handle: it holds nothing of its own, and releasing it does nothing. */
  private readonly handle: PostgresPoolClient = {
    query: (async (sql: string, parameters?: ReadonlyArray<unknown>) => {
      if (/^\s*(begin|start transaction)\b/i.test(sql)) throw new Error('a shared connection runs statements that stand alone, not transactions');
      const slot = this.pick();
      slot.inFlight++;
      try {
        const client = await this.clientOf(slot);
        try {
          return await this.run(slot, client, sql, parameters ?? []);
        } catch (error) {
          if (!isStalePlan(error)) throw error;
          this.names.reset();
          return await this.run(slot, client, sql, parameters ?? []);
        }
      } finally {
        slot.inFlight--;
      }
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
      const client = new Client({ ...this.config, pipeline: true } as ClientConfig);
      // A lost connection fails what it carried; the next statement opens a new one.
      const drop = () => {
        if (slot.client === client) slot.client = null;
      };
      client.on('error', drop);
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

  /** Sends the statement, corking the socket for the rest of this turn so the turn's statements share a write. */
  private run(slot: Slot, client: Client, sql: string, parameters: ReadonlyArray<unknown>) {
    const stream = socketOf(client);
    if (!slot.corked && stream?.cork && stream.uncork) {
      slot.corked = true;
      stream.cork();
      setImmediate(() => {
        slot.corked = false;
        stream.uncork?.();
      });
    }
    const name = this.names.nameFor(sql);
    const values = parameters as unknown[];
    return name ? client.query({ name, text: sql, values }) : client.query(sql, values);
  }
}
