import type { Db } from '../db/database';

/**
 * Turns on members within this process: an optimistic unit waits for the one before it on the
 * same member to have written, so it reads what that one wrote instead of deciding on a
 * snapshot about to go stale (which would cost it, and the statements committed with its
 * write, a second attempt). Units on other instances are caught by the row-version check.
 */
export class MemberTurns {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for the members' turns (in id order) and returns what ends them. */
  async enter(ids: readonly string[]): Promise<() => void> {
    const leave: (() => void)[] = [];
    for (const id of [...ids].sort()) {
      let done!: () => void;
      const mine = new Promise<void>((resolve) => (done = resolve));
      const before = this.tails.get(id);
      this.tails.set(id, mine);
      leave.push(() => {
        done();
        if (this.tails.get(id) === mine) this.tails.delete(id);
      });
      if (before) await before;
    }
    return () => leave.forEach((end) => end());
  }
}

const TURNS = new WeakMap<Db, MemberTurns>();

export function turnsOf(statements: Db): MemberTurns {
  let turns = TURNS.get(statements);
  if (!turns) {
    turns = new MemberTurns();
    TURNS.set(statements, turns);
  }
  return turns;
}
