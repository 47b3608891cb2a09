// Loads the native addon and declares its shape. The declarations mirror what
// `napi build --dts` generates from crates/h2grpc-napi; they are written out
// here so the TypeScript build does not depend on a generated file.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import type { CallCredentials } from '../credentials';

/** Options for one native connection (see crates/h2grpc-napi `ConnectConfig`). */
export interface ConnectConfig {
  authority: string;
  secure?: boolean;
  connectTimeoutMs?: number;
  initialStreamWindow?: number;
  initialConnWindow?: number;
  bdpProbe?: boolean;
  maxFrameSize?: number;
  maxHeaderListSize?: number;
  maxReceiveMessageLength?: number;
  userAgent?: string;
  /** grpc-js's `grpc.default_compression_algorithm`: 0 identity, 1 deflate, 2 gzip. */
  compressionAlgorithm?: number;
  /** `grpc.default_compression_level`: 0 none, 1 low, 2 medium, 3 high. */
  compressionLevel?: number;
  /** `grpc.keepalive_time_ms`; absent or <= 0 disables keepalive. */
  keepaliveTimeMs?: number;
  /** `grpc.keepalive_timeout_ms` (default 20000). */
  keepaliveTimeoutMs?: number;
  /** `grpc.keepalive_permit_without_calls` (grpc-js: only the value 1 enables it). */
  keepalivePermitWithoutCalls?: boolean;
  /** PEM trusted roots for TLS; absent means the system's roots. */
  rootCerts?: string;
  /** PEM client private key for mTLS, with `certChain`. */
  privateKey?: string;
  /** PEM client certificate chain for mTLS, with `privateKey`. */
  certChain?: string;
  /** TLS SNI and verification name; required when `secure`. */
  serverName?: string;
  /** `false` accepts any server certificate (`verifyOptions.rejectUnauthorized`). */
  rejectUnauthorized?: boolean;
  /** Native code reports the peer certificate and leaves the name check to `checkServerIdentity`. */
  wantPeerCertificate?: boolean;
  /** Reach the server through an HTTP CONNECT proxy (the connect address is the proxy's). */
  proxy?: ProxyConfig;
  /**
   * JS only (native ignores it): grpc-js `verifyOptions.checkServerIdentity`,
   * run on the peer certificate before the connection is reported ready.
   */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
  /** JS only: the channel credentials' call credentials, applied to every call on the connection. */
  callCredentials?: CallCredentials;
}

/** HTTP CONNECT tunnel settings for one connection. */
export interface ProxyConfig {
  /** `host:port` the proxy is asked to connect to. */
  target: string;
  /** `Proxy-Authorization` header value, e.g. `Basic dXNlcjpwYXNz`. */
  authHeader?: string;
}

/** Boundary crossing counters, monotonic since the transport was created. */
export interface NativeStats {
  /** Synchronous calls from JS into native code. */
  callsIn: number;
  /** Times the native side woke JS (threadsafe-function calls). */
  wakesOut: number;
  /** Drain calls that returned events or found none. */
  drains: number;
  /** Events delivered across all drains. */
  eventsOut: number;
  /** Message bytes copied at the boundary (framing on send, inline batch copies on receive). */
  bytesCopied: number;
  /** Message bytes handed to JS without a copy. */
  bytesZeroCopy: number;
  /** Streams (RPCs) started natively. */
  streamsStarted: number;
  /** Streams open now. */
  activeStreams: number;
}

export interface NativeTransportHandle {
  setRef(on: boolean): void;
  connect(address: string, config: ConnectConfig): number;
  closeConnection(conn: number): void;
  startCall(
    conn: number,
    path: string,
    authority: string | null,
    metadata: string | null,
    timeoutMs: number,
    message: Buffer | null,
    halfClose: boolean,
    maxReceive: number,
  ): number;
  sendMessage(stream: number, message: Buffer, end: boolean, ack: boolean): void;
  halfClose(stream: number): void;
  cancel(stream: number): void;
  /**
   * Hands this turn's calls, messages and read acknowledgements to the I/O
   * thread. `reads` packs `(stream, count)` pairs: messages JS took since
   * the last flush, whose bytes may go back to the server's window.
   */
  flush(reads: Uint32Array | null): void;
  drain(): Buffer[] | null;
  stats(): NativeStats;
}

interface NativeModule {
  NativeTransport: new (wake: () => void) => NativeTransportHandle;
}

// Shared with the install hook (scripts/platform.js), which runs before the
// TypeScript is compiled; the path holds from ts/native and dist/native.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { platformSuffixes } = require('../../scripts/platform.js') as {
  platformSuffixes(): string[];
};

function load(): NativeModule {
  const tried: string[] = [];
  // The package root holds a locally built addon (npm install built it from
  // source); otherwise a per-platform package from npm/ provides it.
  const root = join(__dirname, '..', '..');
  for (const suffix of platformSuffixes()) {
    const local = join(root, `h2grpc.${suffix}.node`);
    tried.push(local);
    if (existsSync(local)) return require(local) as NativeModule;
    const pkg = `@h2grpc/${suffix}`;
    tried.push(pkg);
    try {
      return require(pkg) as NativeModule;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  throw new Error(
    `h2grpc: no native addon for ${process.platform}-${process.arch}. Tried: ${tried.join(', ')}. ` +
      'Reinstall with a Rust toolchain available (cargo) so `npm install` can build it from source.',
  );
}

let cached: NativeModule | undefined;

/** The addon, loaded on first use so that importing h2grpc never fails by itself. */
export function nativeModule(): NativeModule {
  cached ??= load();
  return cached;
}
