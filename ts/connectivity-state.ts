// grpc-go's connectivityStateManager (csMgr): the channel's aggregate state,
// as the balancer reports it, and the watchers waiting for it to change.
import { ConnectivityState, LogVerbosity } from './constants';
import { LongTimer } from './long-timer';
import { isTracerEnabled, trace } from './logging';

interface Watcher {
  current: ConnectivityState;
  callback: (error?: Error) => void;
  timer: LongTimer | null;
}

export class ConnectivityStateManager {
  private state = ConnectivityState.IDLE;
  private watchers: Watcher[] = [];

  /** @param target Names the channel in `connectivity_state` trace lines. */
  constructor(private readonly target = '') {}

  getState(): ConnectivityState {
    return this.state;
  }

  /** Moves to `next` and wakes the watchers waiting for a change. SHUTDOWN is final. */
  updateState(next: ConnectivityState): void {
    if (this.state === next || this.state === ConnectivityState.SHUTDOWN) return;
    if (isTracerEnabled('connectivity_state')) {
      trace(
        LogVerbosity.DEBUG,
        'connectivity_state',
        `${this.target}${this.target === '' ? '' : ' '}${ConnectivityState[this.state]} -> ${ConnectivityState[next]}`,
      );
    }
    this.state = next;
    const changed = this.watchers.filter((w) => w.current !== next);
    this.watchers = this.watchers.filter((w) => w.current === next);
    for (const w of changed) {
      w.timer?.clear();
      process.nextTick(w.callback);
    }
  }

  /**
   * Calls back once the state differs from `current`, or with an error at
   * `deadlineMs` (ms since the epoch; Infinity: never).
   */
  watch(current: ConnectivityState, deadlineMs: number, callback: (error?: Error) => void): void {
    if (this.state !== current) {
      process.nextTick(callback);
      return;
    }
    const watcher: Watcher = { current, callback, timer: null };
    // A LongTimer: grpc-js hands a deadline past Node's timer limit (about
    // 24.8 days away) to setTimeout, which fails the watch after 1 ms.
    if (deadlineMs !== Infinity) {
      watcher.timer = new LongTimer(() => {
        this.watchers = this.watchers.filter((w) => w !== watcher);
        callback(new Error('Deadline passed without connectivity state change'));
      }, deadlineMs - Date.now());
    }
    this.watchers.push(watcher);
  }
}
