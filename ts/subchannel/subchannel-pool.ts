// Subchannels with the same address and connection settings share one native
// connection, across channels (grpc-go shares within a ClientConn; grpc-js
// shares process-wide, and so do we, which keeps the connection count down
// when an app makes many clients for one server).
import type { ConnectConfig } from '../native/binding';
import type { BackoffOptions } from './backoff';
import { Subchannel } from './subchannel';

const pool = new Map<string, Subchannel>();

/** Identity numbers for the objects in a config that JSON cannot tell apart (functions, call credentials). */
const identities = new WeakMap<object, number>();
let nextIdentity = 1;

function identityOf(value: object): number {
  let id = identities.get(value);
  if (id === undefined) {
    id = nextIdentity++;
    identities.set(value, id);
  }
  return id;
}

// Every credential field is part of the key (PEM text by value, callbacks
// and call credentials by identity), so channels with different
// credentials never share a connection.
function keyOf(address: string, config: ConnectConfig, backoff: BackoffOptions): string {
  const json = JSON.stringify(config, (key, value: unknown) =>
    (key === 'checkServerIdentity' || key === 'callCredentials') &&
    value !== undefined &&
    value !== null
      ? `#${identityOf(value as object)}`
      : value,
  );
  return `${address}\n${json}\n${JSON.stringify(backoff)}`;
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
