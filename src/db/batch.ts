import DataLoader from 'dataloader';

export interface SharedLoaderOptions {
  /** Most keys in one statement. */
  maxBatchSize?: number;
  /** Most statements of this loader running at once; later keys wait and form the next batch. */
  maxInFlight?: number;
}

/**
 * Batches reads across concurrent requests (not only within one): keys asked for in the same
 * turn of the event loop, or while `maxInFlight` batches are already running, go to the
 * database as one statement. An idle server answers a lone request at once; a busy one pays
 * one round trip for many requests. Nothing is cached: every key is read fresh, after the
 * request asked for it, so a client always sees its own committed writes.
 */
export function sharedLoader<K, V>(
  run: (keys: readonly K[]) => Promise<V[]>,
  { maxBatchSize = 100, maxInFlight = 1 }: SharedLoaderOptions = {},
): DataLoader<K, V> {
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  return new DataLoader<K, V>(
    async (keys) => {
      inFlight++;
      try {
        return await run(keys);
      } finally {
        inFlight--;
        waiting.shift()?.();
      }
    },
    {
      cache: false,
      maxBatchSize,
      batchScheduleFn: (dispatch) => {
        if (inFlight < maxInFlight) setImmediate(dispatch);
        else waiting.push(dispatch);
      },
    },
  );
}
