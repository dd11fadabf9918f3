/**
 * Many watchers of one AbortSignal for the price of one listener. An AbortSignal keeps its listeners in a
 * list that `addEventListener` walks (to refuse a duplicate) and `removeEventListener` searches: with the
 * thousand calls in flight of a judge batch, all on the batch's signal, each call paid thousands of steps.
 * Here each signal gets one listener, and its watchers are a Set: adding and removing one is O(1).
 */

/** Told when the watched signal aborts (once; the watch is then over). */
export interface AbortWatcher {
  aborted(reason: unknown): void;
}

const watched = new WeakMap<AbortSignal, Set<AbortWatcher>>();

/** Watches `signal`, which must not be aborted yet (check `signal.aborted` first). */
export function watchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  let watchers = watched.get(signal);
  if (watchers === undefined) {
    const set = new Set<AbortWatcher>();
    watchers = set;
    watched.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        watched.delete(signal);
        for (const w of set) w.aborted(signal.reason);
        set.clear();
      },
      { once: true },
    );
  }
  watchers.add(watcher);
}

/** Stops watching (nothing when the watch is over or never was). */
export function unwatchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  watched.get(signal)?.delete(watcher);
}
