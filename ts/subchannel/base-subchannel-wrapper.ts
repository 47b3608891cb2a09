// A base for balancers that wrap subchannels to add behaviour (e.g. outlier
// detection ejecting a subchannel by marking it unhealthy) without touching
// the transport-level subchannel. Everything is delegated to the wrapped
// child; subclasses override what they change. Same API as grpc-js's
// `BaseSubchannelWrapper` so wrappers written for grpc-js work unchanged.
import type { ConnectivityState } from '../constants';
import type {
  ConnectivityStateListener,
  HealthListener,
  SubchannelInterface,
  SubchannelRef,
} from './subchannel-interface';

/**
 * Delegates every {@link SubchannelInterface} method to `child`, and adds a
 * health flag of its own: the wrapper is healthy only when both it and the
 * child are.
 *
 * Connectivity listeners are registered on the child, so they receive the
 * child (ultimately the real subchannel) as their first argument; compare
 * subchannels with `realSubchannelEquals`, not `===`.
 */
export abstract class BaseSubchannelWrapper implements SubchannelInterface {
  private healthy = true;
  private readonly healthListeners = new Set<HealthListener>();
  private refcount = 0;

  // Registered on the child only while this wrapper has health listeners of
  // its own, so a wrapper nobody watches leaves no listener on a shared
  // subchannel behind.
  private readonly childHealthListener: HealthListener = () => {
    // The child's health only shows through while this wrapper is healthy.
    if (this.healthy) this.notifyHealthListeners();
  };

  /** @param child The subchannel (or wrapper) to delegate to. */
  constructor(protected child: SubchannelInterface) {}

  private notifyHealthListeners(): void {
    const healthy = this.isHealthy();
    for (const listener of [...this.healthListeners]) listener(healthy);
  }

  /** The child's state. */
  getConnectivityState(): ConnectivityState {
    return this.child.getConnectivityState();
  }

  /** Registers `listener` on the child. */
  addConnectivityStateListener(listener: ConnectivityStateListener): void {
    this.child.addConnectivityStateListener(listener);
  }

  /** Unregisters `listener` from the child. */
  removeConnectivityStateListener(listener: ConnectivityStateListener): void {
    this.child.removeConnectivityStateListener(listener);
  }

  /** Asks the child to connect. */
  startConnecting(): void {
    this.child.startConnecting();
  }

  /** The child's address. */
  getAddress(): string {
    return this.child.getAddress();
  }

  /** Forwarded to the child. */
  throttleKeepalive(newKeepaliveTime: number): void {
    this.child.throttleKeepalive(newKeepaliveTime);
  }

  /** Takes a reference on the child and counts it here. */
  ref(): void {
    this.child.ref();
    this.refcount += 1;
  }

  /** Drops a reference; the last one calls {@link destroy}. */
  unref(): void {
    this.child.unref();
    this.refcount -= 1;
    if (this.refcount === 0) this.destroy();
  }

  /**
   * Called when the last reference taken through this wrapper is dropped.
   * Subclasses release what they hold; call `super.destroy()`.
   */
  protected destroy(): void {
    if (this.healthListeners.size > 0) {
      this.child.removeHealthStateWatcher(this.childHealthListener);
      this.healthListeners.clear();
    }
  }

  /** The child's channelz reference. */
  getChannelzRef(): SubchannelRef {
    return this.child.getChannelzRef();
  }

  /** Healthy when both this wrapper and the child are. */
  isHealthy(): boolean {
    return this.healthy && this.child.isHealthy();
  }

  /** Calls `listener` whenever {@link isHealthy} may have changed. */
  addHealthStateWatcher(listener: HealthListener): void {
    if (this.healthListeners.size === 0) this.child.addHealthStateWatcher(this.childHealthListener);
    this.healthListeners.add(listener);
  }

  /** Stops calling `listener`. */
  removeHealthStateWatcher(listener: HealthListener): void {
    if (!this.healthListeners.delete(listener)) return;
    if (this.healthListeners.size === 0) {
      this.child.removeHealthStateWatcher(this.childHealthListener);
    }
  }

  /**
   * Sets this wrapper's own health (e.g. an ejected backend is unhealthy).
   * @param healthy The new health.
   */
  protected setHealthy(healthy: boolean): void {
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    // An unhealthy child hides this wrapper's flag, so nothing changes then.
    if (this.child.isHealthy()) this.notifyHealthListeners();
  }

  /** The transport-level subchannel under every wrapper. */
  getRealSubchannel(): SubchannelInterface {
    return this.child.getRealSubchannel();
  }

  /**
   * Whether this and `other` wrap the same transport-level subchannel.
   * @param other Another subchannel or wrapper.
   */
  realSubchannelEquals(other: SubchannelInterface): boolean {
    return this.getRealSubchannel() === other.getRealSubchannel();
  }
}
