/**
 * Waits until `condition()` holds, checking every 10 ms. The bound is only how long a test may wait before
 * it says the condition never came (20 s by default): long enough that a loaded machine does not fail a
 * test that would pass; the test's own timeout is the backstop.
 */
export async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
