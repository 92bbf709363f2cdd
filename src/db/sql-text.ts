/**
 * Statements written as text. The hot statements of the unit of work (ledger/unit-of-work.repo.ts)
 * are assembled from pieces of SQL text rather than query-builder trees: building and compiling
 * a tree of some forty nodes cost tens of microseconds of every request's API time, to produce
 * text that only the number of rows changes.
 */

/** A piece of SQL with numbered placeholders ($1, $2, …) and their values. */
export interface SqlText {
  text: string;
  values: readonly unknown[];
}

/** The values of a statement being assembled, each behind the placeholder it was given. */
export class Params {
  readonly values: unknown[] = [];

  /** A placeholder for `value`. */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** `piece`'s text with its placeholders numbered after those already taken. */
  splice(piece: SqlText): string {
    const offset = this.values.length;
    this.values.push(...piece.values);
    return offset === 0 ? piece.text : renumbered(piece.text, offset);
  }
}

// Pieces are a few fixed texts met at a few offsets: each renumbering is worked out once.
const RENUMBERED = new Map<string, Map<number, string>>();

function renumbered(text: string, offset: number): string {
  let byOffset = RENUMBERED.get(text);
  if (!byOffset) {
    byOffset = new Map();
    if (RENUMBERED.size < 1000) RENUMBERED.set(text, byOffset);
  }
  let result = byOffset.get(offset);
  if (result === undefined) {
    result = text.replace(/\$(\d+)/g, (_match, n: string) => `$${Number(n) + offset}`);
    if (byOffset.size < 100) byOffset.set(offset, result);
  }
  return result;
}

/** A quoted identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
