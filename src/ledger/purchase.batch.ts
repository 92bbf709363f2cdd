import { followTurn, type Db } from '../db/database';
import { pgErrorCode } from '../errors';
import { purchaseAtOnce, purchasesAtOnce, type PurchaseAtOnce, type PurchaseAtOnceOutcome } from './purchase.repo';

interface Waiting {
  p: PurchaseAtOnce;
  resolve(outcome: PurchaseAtOnceOutcome): void;
  reject(error: unknown): void;
}

/**
 * One-statement purchases that arrive in the same turn of the event loop go to the database
 * as few statements: up to `most` purchases for different members share one
 * (purchase.repo purchasesAtOnce), so a busy server sets up one plan and binds one set of values
 * for all of them, where it would for each. An idle server sends a lone purchase at once, as
 * before. To its caller a purchase still stands alone:
 *
 * - a statement that fails on the server (a racing duplicate order, a member locked for longer
 *   than the shared connection waits) wrote nothing, and each of its purchases runs again
 *   alone, so the one that fails fails alone and the rest are answered as if they had never
 *   met it;
 * - an error not answered by the server (a connection lost) leaves the statement's fate
 *   unknown, so every purchase in it fails with it, as a purchase alone would: none is run twice.
 */
export class PurchaseBatcher {
  private waiting: Waiting[] = [];

  constructor(private readonly db: Db, private readonly most: number) {}

  run(p: PurchaseAtOnce): Promise<PurchaseAtOnceOutcome> {
    if (this.most <= 1) return purchaseAtOnce(this.db, p);
    return new Promise((resolve, reject) => {
      if (this.waiting.push({ p, resolve, reject }) !== 1) return;
      setImmediate(() => this.leave());
      // The turn's statements would otherwise leave the shared connections a turn after these.
      followTurn(this.db);
    });
  }

  private leave(): void {
    const turn = this.waiting;
    this.waiting = [];
    for (const batch of batchesOf(turn, this.most)) void this.send(batch);
  }

  private async send(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch as [Waiting];
      purchaseAtOnce(this.db, only.p).then(only.resolve, only.reject);
      return;
    }
    let outcomes: PurchaseAtOnceOutcome[];
    try {
      outcomes = await purchasesAtOnce(this.db, batch.map((w) => w.p));
    } catch (error) {
      if (pgErrorCode(error) === undefined) {
        for (const w of batch) w.reject(error);
        return;
      }
      for (const w of batch) purchaseAtOnce(this.db, w.p).then(w.resolve, w.reject);
      return;
    }
    batch.forEach((w, i) => w.resolve(outcomes[i] as PurchaseAtOnceOutcome));
  }
}

/**
 * Whether two purchases can share a statement: the same ladder, counts of the same shape for
 * both or neither, and no member, order or counter in common (a member twice would be
 * credited once, an order twice would fail both, a counter twice would count once).
 */
export function sharesStatement(a: PurchaseAtOnce, b: PurchaseAtOnce): boolean {
  if (a.ladder.text !== b.ladder.text || (a.count?.key ?? null) !== (b.count?.key ?? null)) return false;
  if (a.memberId === b.memberId || a.orderId === b.orderId) return false;
  return !a.count || a.count.subject !== b.count?.subject;
}

/** The turn's purchases in statements, in the order they came: each joins the first that it can share. */
export function batchesOf<T extends { p: PurchaseAtOnce }>(turn: readonly T[], most: number): T[][] {
  const batches: T[][] = [];
  for (const item of turn) {
    const batch = batches.find((b) => b.length < most && b.every((other) => sharesStatement(other.p, item.p)));
    if (batch) batch.push(item);
    else batches.push([item]);
  }
  return batches;
}

const BATCHERS = new WeakMap<Db, PurchaseBatcher>();

/** The batcher of the statements' database `db`, one per database. */
export function purchaseBatcher(db: Db, most: number): PurchaseBatcher {
  let batcher = BATCHERS.get(db);
  if (!batcher) {
    batcher = new PurchaseBatcher(db, most);
    BATCHERS.set(db, batcher);
  }
  return batcher;
}
