// What load balancers see of a subchannel. Same shape as grpc-js's
// `SubchannelInterface` (experimental API) minus channelz internals, so
// balancers written for grpc-js work unchanged.
import type { ConnectivityState } from '../constants';

/** Called on every state change of a subchannel. `keepaliveTime` is in ms. */
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
  getConnectivityState(): ConnectivityState;
  addConnectivityStateListener(listener: ConnectivityStateListener): void;
  removeConnectivityStateListener(listener: ConnectivityStateListener): void;
  /** Leaves IDLE (or TRANSIENT_FAILURE once backoff ends) and connects. */
  startConnecting(): void;
  /** The address as a string, e.g. `127.0.0.1:50051` or `unix:/path`. */
  getAddress(): string;
  /** Keepalive is not negotiated per subchannel yet; accepted and ignored. */
  throttleKeepalive(newKeepaliveTime: number): void;
  ref(): void;
  unref(): void;
  getChannelzRef(): SubchannelRef;
  isHealthy(): boolean;
  addHealthStateWatcher(listener: HealthListener): void;
  removeHealthStateWatcher(listener: HealthListener): void;
  /** The transport-level subchannel under any wrappers. */
  getRealSubchannel(): SubchannelInterface;
  realSubchannelEquals(other: SubchannelInterface): boolean;
}
