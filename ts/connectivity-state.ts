// grpc-go's connectivityStateManager (csMgr): the channel's aggregate state,
// as the balancer reports it, and the watchers waiting for it to change.
import { ConnectivityState, LogVerbosity } from './constants';
import { isTracerEnabled, trace } from './logging';

interface Watcher {
  current: ConnectivityState;
  callback: (error?: Error) => void;
  timer: NodeJS.Timeout | null;
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
      if (w.timer !== null) clearTimeout(w.timer);
      process.nextTick(w.callback);
    }
  }

  /** Calls back once the state differs from `current`, or with an error at `deadlineMs`. */
  watch(current: ConnectivityState, deadlineMs: number, callback: (error?: Error) => void): void {
    if (this.state !== current) {
      process.nextTick(callback);
      return;
    }
    const watcher: Watcher = { current, callback, timer: null };
    if (deadlineMs !== Infinity) {
      watcher.timer = setTimeout(
        () => {
          this.watchers = this.watchers.filter((w) => w !== watcher);
          callback(new Error('Deadline passed without connectivity state change'));
        },
        Math.max(0, deadlineMs - Date.now()),
      );
    }
    this.watchers.push(watcher);
  }
}
