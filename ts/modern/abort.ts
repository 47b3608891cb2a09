// AbortSignal → calls. A signal gets one 'abort' listener however many calls
// share it: a request-scoped signal passed to a fan-out of calls is the
// normal case, and Node warns about a leak past 10 listeners on one
// EventTarget. The listener is removed when the signal's last call ends, so
// a long-lived signal does not collect them either.

/** A call that a signal can cancel. */
export interface Abortable {
  /** Called once if the signal aborts while the call is watched. */
  onAbort(reason: unknown): void;
}

/** The calls watching one signal; it is that signal's only listener. */
class SignalWatch {
  readonly calls = new Set<Abortable>();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this);
  }

  handleEvent(): void {
    watches.delete(this.signal);
    this.signal.removeEventListener('abort', this);
    const reason = this.signal.reason;
    // Copied first: a call's onAbort ends it, which unwatches it.
    const calls = [...this.calls];
    this.calls.clear();
    for (const call of calls) call.onAbort(reason);
  }

  remove(call: Abortable): void {
    if (!this.calls.delete(call) || this.calls.size > 0) return;
    watches.delete(this.signal);
    this.signal.removeEventListener('abort', this);
  }
}

const watches = new WeakMap<AbortSignal, SignalWatch>();

/** Has `call.onAbort` run when `signal` aborts, until {@link unwatchSignal}. */
export function watchSignal(signal: AbortSignal, call: Abortable): void {
  let watch = watches.get(signal);
  if (watch === undefined) {
    watch = new SignalWatch(signal);
    watches.set(signal, watch);
  }
  watch.calls.add(call);
}

/** Stops watching `signal` for `call`; the last call to leave removes the listener. */
export function unwatchSignal(signal: AbortSignal, call: Abortable): void {
  watches.get(signal)?.remove(call);
}
