// What load balancers see of a subchannel. Same shape as grpc-js's
// `SubchannelInterface` (experimental API) minus channelz internals, so
// balancers written for grpc-js work unchanged.
import type { ConnectivityState } from '../constants';

/**
 * Called on every state change of a subchannel. `keepaliveTime` is the
 * subchannel's keepalive time in ms (-1: keepalive off), raised after a
 * server's GOAWAY too_many_pings.
 */
export type ConnectivityStateListener = (
  subchannel: SubchannelInterface,
  previousState: ConnectivityState,
  newState: ConnectivityState,
  keepaliveTime: number,
  errorMessage?: string,
) => void;

/** Called when a subchannel's health (as seen by health checking) changes. */
export type HealthListener = (healthy: boolean) => void;

/** A placeholder for grpc-js's channelz reference; h2grpc has no channelz yet. */
export interface SubchannelRef {
  kind: 'subchannel';
  id: number;
  name: string;
}

/**
 * A connection to one address that a load balancer can ask to connect, watch
 * and pick. Obtained from `ChannelControlHelper.createSubchannel`.
 */
export interface SubchannelInterface {
  /** The subchannel's current state. */
  getConnectivityState(): ConnectivityState;
  /** Calls `listener` on every state change. */
  addConnectivityStateListener(listener: ConnectivityStateListener): void;
  /** Stops calling `listener`. */
  removeConnectivityStateListener(listener: ConnectivityStateListener): void;
  /** Leaves IDLE (or TRANSIENT_FAILURE once backoff ends) and connects. */
  startConnecting(): void;
  /** The address as a string, e.g. `127.0.0.1:50051` or `unix:/path`. */
  getAddress(): string;
  /** Lengthens the keepalive time of later connections (never shortens it), as grpc-js does. */
  throttleKeepalive(newKeepaliveTime: number): void;
  /** Counts a user (a balancer); a subchannel lives while counted. */
  ref(): void;
  /** Releases a `ref`; the last one releases the connection. */
  unref(): void;
  /** Names the subchannel (h2grpc collects no channelz data). */
  getChannelzRef(): SubchannelRef;
  /** Whether health checking considers it healthy (always true: no client health checking). */
  isHealthy(): boolean;
  /** Calls `listener` when health changes. */
  addHealthStateWatcher(listener: HealthListener): void;
  /** Stops calling `listener`. */
  removeHealthStateWatcher(listener: HealthListener): void;
  /** The transport-level subchannel under any wrappers. */
  getRealSubchannel(): SubchannelInterface;
  /** Whether both wrap the same transport-level subchannel. */
  realSubchannelEquals(other: SubchannelInterface): boolean;
}
