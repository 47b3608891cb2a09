// Subchannels with the same address and connection settings share one native
// connection, across channels (grpc-go shares within a ClientConn; grpc-js
// shares process-wide, and so do we, which keeps the connection count down
// when an app makes many clients for one server).
import type { ConnectConfig } from '../native/binding';
import type { BackoffOptions } from './backoff';
import { Subchannel } from './subchannel';

const pool = new Map<string, Subchannel>();

function keyOf(address: string, config: ConnectConfig, backoff: BackoffOptions): string {
  return `${address}\n${JSON.stringify(config)}\n${JSON.stringify(backoff)}`;
}

/** Returns the shared subchannel for this address and settings, creating it if needed. */
export function getSubchannel(
  address: string,
  config: ConnectConfig,
  backoff: BackoffOptions,
): Subchannel {
  const key = keyOf(address, config, backoff);
  let sub = pool.get(key);
  if (sub === undefined) {
    sub = new Subchannel(address, config, backoff, (unused) => {
      if (pool.get(key) === unused) pool.delete(key);
    });
    pool.set(key, sub);
  }
  return sub;
}
