/**
 * Connections the server closes (a restart, pg_terminate_backend, a proxy's idle timeout): each
 * is an 'error' event on its client, which with no listener would end the process. Every pool
 * here hears them and tells its owner once per connection (OpenOptions.onConnectionLost).
 */
import type { Pool } from 'pg';

/** A listener for one connection's 'error' events that tells `lost` of the first only. */
export function tellOnce(lost: (error: Error) => void): (error: Error) => void {
  let told = false;
  return (error) => {
    if (told) return;
    told = true;
    lost(error);
  };
}

/**
 * Hears `pool`'s lost connections. A connection that sat idle in the pool errs on the pool as
 * well; pg-pool listens on a client only while it is idle, so a client lent to a request or a
 * transaction gets a listener of its own, for good, and the pool's event is heard and left at
 * that. The client, no longer queryable, fails what it carried and leaves the pool when released.
 */
export function hearLosses(pool: Pool, lost: (error: Error) => void): Pool {
  pool.on('connect', (client) => client.on('error', tellOnce(lost)));
  pool.on('error', () => undefined);
  return pool;
}
