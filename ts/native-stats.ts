import type { NativeStats } from './native/binding';
import { nativeTransport } from './transport/native-transport';

export type { NativeStats };

/**
 * Boundary-crossing counters of the native transport since the process
 * started using it: synchronous calls into Rust, wake-ups out of it, events
 * delivered, and message bytes copied or handed over without a copy. The
 * benchmark divides them by the RPC count. h2grpc-only (not in grpc-js).
 */
export function nativeStats(): NativeStats {
  return nativeTransport().stats();
}
