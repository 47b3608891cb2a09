// grpc-go's pickerWrapper (the "blocking picker"): every call asks the
// current picker for a subchannel. While no picker can serve it, the call
// waits in a queue (no polling); each new picker from the balancer retries
// the queued calls. Fail-fast calls fail on TRANSIENT_FAILURE; wait-for-ready
// calls keep waiting until READY or their deadline.
//
// While any call waits here the process is kept alive (as grpc-js does): a
// queued call may have no socket or stream under it (the subchannel is
// between connection attempts), and nothing else would stop Node from
// exiting with the call never completed.
import { PickResultType, type Picker, type PickResult } from './balancer/picker';
import { Status } from './constants';
import type { TransportCall } from './call/transport-call';
import { Subchannel } from './subchannel/subchannel';

/** Longest interval Node accepts; the timer only holds a ref, it never needs to fire. */
const KEEP_ALIVE_INTERVAL_MS = 2 ** 31 - 1;

export class PickerWrapper {
  private queued = new Set<TransportCall>();
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(private picker: Picker) {}

  /** Installs the balancer's new picker and retries every queued call with it. */
  updatePicker(picker: Picker): void {
    this.picker = picker;
    if (this.queued.size === 0) return;
    const queued = this.queued;
    this.queued = new Set();
    for (const call of queued) this.pick(call);
    this.updateKeepAlive();
  }

  /** Finds a ready connection for `call` now, or queues it. */
  pick(call: TransportCall): void {
    let result: PickResult;
    try {
      result = this.picker.pick({ metadata: call.getMetadata(), extraPickInfo: {} });
    } catch (e) {
      // A user balancer's picker threw: the call fails, the channel lives on.
      call.onPickFailed(Status.INTERNAL, `Picker failed: ${e instanceof Error ? e.message : e}`);
      return;
    }
    switch (result.pickResultType) {
      case PickResultType.COMPLETE: {
        const real = result.subchannel?.getRealSubchannel();
        const conn = real instanceof Subchannel ? real.getConnection() : null;
        if (conn === null) {
          // Picked a subchannel that is no longer READY (or not one of ours):
          // wait for the balancer's next picker, as grpc-go does.
          this.enqueue(call);
          return;
        }
        result.onCallStarted?.();
        call.onConnectionReady(conn, result.onCallEnded ?? undefined);
        return;
      }
      case PickResultType.QUEUE:
        this.enqueue(call);
        return;
      case PickResultType.TRANSIENT_FAILURE:
        if (call.isWaitForReady()) {
          this.enqueue(call);
        } else {
          call.onPickFailed(
            result.status?.code ?? Status.UNAVAILABLE,
            result.status?.details ?? 'No connection established',
          );
        }
        return;
      case PickResultType.DROP:
        call.onPickFailed(
          result.status?.code ?? Status.UNAVAILABLE,
          result.status?.details ?? 'Call dropped by load balancing policy',
        );
        return;
    }
  }

  /** The calls waiting for a pick, in the order they came. */
  queuedCalls(): TransportCall[] {
    return [...this.queued];
  }

  /** Forgets a queued call (cancelled or past its deadline). */
  remove(call: TransportCall): void {
    if (this.queued.delete(call)) this.updateKeepAlive();
  }

  /** Fails every queued call (channel shutdown). */
  failAll(code: Status, details: string): void {
    const queued = this.queued;
    this.queued = new Set();
    this.updateKeepAlive();
    for (const call of queued) call.onPickFailed(code, details);
  }

  private enqueue(call: TransportCall): void {
    this.queued.add(call);
    if (this.keepAlive === null) this.updateKeepAlive();
  }

  /** Holds a ref on the event loop exactly while calls are queued. */
  private updateKeepAlive(): void {
    if (this.queued.size > 0 && this.keepAlive === null) {
      this.keepAlive = setInterval(() => {}, KEEP_ALIVE_INTERVAL_MS);
    } else if (this.queued.size === 0 && this.keepAlive !== null) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }
}
