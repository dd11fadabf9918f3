/**
 * A wake-up that cannot be lost: progress events are counted, and a waiter says which count it last saw,
 * so an event that came while it was busy elsewhere (awaiting input, or suspended at a `yield`) wakes it
 * at once instead of never. Single waiter; spurious wake-ups are allowed (the waiter looks again).
 */
export class ProgressSignal {
  private count = 0;
  private waiter: (() => void) | undefined;

  /** How many events so far: read this before looking at the state the events change. */
  get seen(): number {
    return this.count;
  }

  /** Records one event and wakes the waiter, if any. */
  notify(): void {
    this.count++;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Resolves after the first event beyond `seen`: at once when there has been one already. */
  after(seen: number): Promise<void> {
    if (this.count !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}
