/** Which one-statement purchases may share a statement (ledger/purchase.batch.ts batchesOf). */
import type { Embedded } from '../../src/db/ahead';
import { batchesOf } from '../../src/ledger/purchase.batch';
import type { PurchaseAtOnce } from '../../src/ledger/purchase.repo';

const ladder = (text: string) => ({ rungs: [], text, keys: [], pointsOnly: true });
const count = (subject: string, key = 'upsert|1200'): Embedded => ({
  text: 'insert …', values: [subject], key, subject, allows: () => { throw new Error('not compiled here'); },
  answer: () => undefined, owedAgain: () => undefined,
});

/** Only what batchesOf reads. */
function purchase(name: string, memberId: string, orderId: string, c: Embedded | null = null, text = 'L'): { name: string; p: PurchaseAtOnce } {
  return { name, p: { memberId, orderId, ladder: ladder(text), count: c } as unknown as PurchaseAtOnce };
}

const names = (batches: { name: string }[][]) => batches.map((batch) => batch.map((item) => item.name));

test('purchases for different members, orders and callers share one statement, up to the most allowed', () => {
  const turn = ['a', 'b', 'c', 'd', 'e'].map((n) => purchase(n, `member-${n}`, `order-${n}`, count(`caller-${n}`)));
  expect(names(batchesOf(turn, 16))).toEqual([['a', 'b', 'c', 'd', 'e']]);
  expect(names(batchesOf(turn, 2))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
});

test('the same member, order or caller twice goes to the next statement; each joins the first it can share', () => {
  const turn = [
    purchase('a', 'm1', 'o1', count('c1')),
    purchase('same member', 'm1', 'o2', count('c2')),
    purchase('same order', 'm3', 'o1', count('c3')),
    purchase('same caller', 'm4', 'o4', count('c1')),
    purchase('b', 'm5', 'o5', count('c5')),
  ];
  expect(names(batchesOf(turn, 16))).toEqual([['a', 'b'], ['same member', 'same order', 'same caller']]);
});

test('a different ladder, or counts of another shape or none, need a statement of their own', () => {
  const turn = [
    purchase('a', 'm1', 'o1', count('c1')),
    purchase('other ladder', 'm2', 'o2', count('c2'), 'L2'),
    purchase('other count', 'm3', 'o3', count('c3', 'upsert|60')),
    purchase('no count', 'm4', 'o4', null),
    purchase('no count either', 'm5', 'o5', null),
  ];
  expect(names(batchesOf(turn, 16))).toEqual([['a'], ['other ladder'], ['other count'], ['no count', 'no count either']]);
});
