import { sharedLoader } from '../../src/db/batch';

/** A run function whose calls stay open until released, recording the keys of each call. */
function gatedRun() {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = async (keys: readonly number[]) => {
    calls.push([...keys]);
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
    return keys.map((k) => k * 10);
  };
  const releaseAll = async () => {
    while (gates.length > 0) {
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { run, calls, releaseAll, maxRunning: () => maxRunning };
}

test('keys asked for in one turn go out as one batch, and each caller gets its own answer', async () => {
  const gated = gatedRun();
  const loader = sharedLoader(gated.run);
  const answers = Promise.all([1, 2, 3].map((k) => loader.load(k)));
  await new Promise((r) => setImmediate(r));
  expect(gated.calls).toEqual([[1, 2, 3]]);
  await gated.releaseAll();
  expect(await answers).toEqual([10, 20, 30]);
});

test('while a batch runs, later keys wait and go out together as the next batch', async () => {
  const gated = gatedRun();
  const loader = sharedLoader(gated.run, { maxInFlight: 1 });
  const first = loader.load(1);
  await new Promise((r) => setImmediate(r));
  const later = [2, 3, 4].map((k) => loader.load(k));
  await new Promise((r) => setImmediate(r));
  expect(gated.calls).toEqual([[1]]);
  await gated.releaseAll();
  await gated.releaseAll();
  expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40]);
  expect(gated.calls).toEqual([[1], [2, 3, 4]]);
  expect(gated.maxRunning()).toBe(1);
});

test('a batch never exceeds maxBatchSize', async () => {
  const gated = gatedRun();
  const loader = sharedLoader(gated.run, { maxBatchSize: 2, maxInFlight: 5 });
  const answers = Promise.all([1, 2, 3, 4, 5].map((k) => loader.load(k)));
  await new Promise((r) => setImmediate(r));
  await gated.releaseAll();
  expect(await answers).toEqual([10, 20, 30, 40, 50]);
  expect(gated.calls.every((keys) => keys.length <= 2)).toBe(true);
  expect(gated.calls.flat().sort()).toEqual([1, 2, 3, 4, 5]);
});

test('a failed batch fails its own callers and not the next batch', async () => {
  let call = 0;
  const loader = sharedLoader(async (keys: readonly number[]) => {
    call++;
    if (call === 1) throw new Error('connection lost');
    return keys.map((k) => k + 1);
  });
  await expect(loader.load(1)).rejects.toThrow('connection lost');
  await expect(loader.load(2)).resolves.toBe(3);
});
