/**
 * Polls `check` every 10 ms until it returns a value other than undefined/false, and returns it;
 * throws naming `what` after `timeoutMs`. For effects that land just after the call that caused
 * them (a log line written once the answer has gone, a statement that starts waiting on a lock).
 */
export async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
