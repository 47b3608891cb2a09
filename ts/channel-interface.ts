import type { Call, Deadline } from './call/call-interface';
import type { ConnectivityState } from './constants';

/**
 * What a {@link Client} needs from a channel. Same shape as `@grpc/grpc-js`'s
 * `ChannelInterface`, except that `createCall` returns h2grpc's internal call.
 */
export interface ChannelInterface {
  /** Closes the channel: calls in flight finish, queued and new calls fail with UNAVAILABLE. */
  close(): void;
  /** The target string the channel was created with. */
  getTarget(): string;
  /** Current connectivity state; with `tryToConnect`, an IDLE channel starts connecting. */
  getConnectivityState(tryToConnect: boolean): ConnectivityState;
  /** Calls `callback` once the state differs from `currentState`, or with an error at `deadline`. */
  watchConnectivityState(
    currentState: ConnectivityState,
    deadline: Deadline,
    callback: (error?: Error) => void,
  ): void;
  /** Creates (but does not start) a call of `method`, a full path like `/pkg.Service/Method`. */
  createCall(
    method: string,
    deadline: Deadline,
    host: string | null | undefined,
    parentCall: unknown,
    propagateFlags: number | null | undefined,
  ): Call;
}
