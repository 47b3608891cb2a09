// Shared plumbing for the integration tests: the client library under test, a
// client per test (closed on teardown), and promise wrappers around the
// grpc-js-style callback/event call API that record everything a call emitted.
import type * as GrpcJs from '@grpc/grpc-js';
import {
  clientName,
  getClientModule,
  loadTestService,
  type GrpcModule,
  type TestServiceClient,
  type TestServiceClientConstructor,
} from './client-under-test';
import type { TeardownContext } from './peer';

export { clientName, isGrpcJs } from './client-under-test';

export const grpc: GrpcModule = getClientModule();
export const TestService: TestServiceClientConstructor = loadTestService(grpc);

export type ServiceError = GrpcJs.ServiceError;
export type StatusObject = GrpcJs.StatusObject;
export type Metadata = GrpcJs.Metadata;

export const MiB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a clear message if `p` has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function newClient(
  t: TeardownContext,
  address: string,
  options?: GrpcJs.ClientOptions,
): TestServiceClient {
  const client = new TestService(address, grpc.credentials.createInsecure(), options);
  t.teardown(() => client.close());
  return client;
}

/**
 * Makes one EmptyCall so the connection is up before a test that needs its request to
 * reach the server within a short deadline.
 */
export async function warmUp(client: TestServiceClient): Promise<void> {
  const out = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    15_000,
    'warm-up EmptyCall',
  );
  if (out.error) throw out.error;
}

/** A fresh Metadata from plain entries; arrays add several values for one key. */
export function md(
  entries: Record<string, string | Buffer | Array<string | Buffer>> = {},
): Metadata {
  const m = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries)) {
    for (const v of Array.isArray(value) ? value : [value]) m.add(key, v);
  }
  return m;
}

/** Deadline `ms` from now. */
export function deadlineIn(ms: number): Date {
  return new Date(Date.now() + ms);
}

export interface UnaryOutcome<T> {
  error: ServiceError | null;
  response: T | undefined;
  /** Response headers from the 'metadata' event, if any was emitted. */
  headers: Metadata | undefined;
  /** From the 'status' event. */
  status: StatusObject;
}

/**
 * Runs a unary or client-streaming call started by `start(callback)` and resolves
 * once both the callback and the 'status' event have fired.
 */
export function unaryOutcome<T, C extends NodeJS.EventEmitter = GrpcJs.ClientUnaryCall>(
  start: (cb: (err: ServiceError | null, value?: T) => void) => C,
  onCall?: (call: C) => void,
): Promise<UnaryOutcome<T>> {
  return new Promise((resolve, reject) => {
    let cbDone = false;
    let error: ServiceError | null = null;
    let response: T | undefined;
    let headers: Metadata | undefined;
    let status: StatusObject | undefined;
    const maybeDone = () => {
      if (cbDone && status) resolve({ error, response, headers, status });
    };
    let call: C;
    try {
      call = start((err, value) => {
        if (cbDone) {
          reject(new Error('unary callback invoked twice'));
          return;
        }
        cbDone = true;
        error = err;
        response = value;
        maybeDone();
      });
    } catch (e) {
      reject(e);
      return;
    }
    call.on('metadata', (m: Metadata) => {
      headers = m;
    });
    call.on('status', (s: StatusObject) => {
      status = s;
      maybeDone();
    });
    onCall?.(call);
  });
}

export interface StreamOutcome<T> {
  messages: T[];
  headers: Metadata | undefined;
  /** The 'error' event's error, if the call did not end OK. */
  error: ServiceError | undefined;
  status: StatusObject;
}

/**
 * Reads a server-streaming or bidi call to completion. Resolves after 'status'
 * and, for OK, 'end' (for non-OK, 'error') — the event sequence grpc-js produces.
 */
export function streamOutcome<T>(
  call: GrpcJs.ClientReadableStream<T> | GrpcJs.ClientDuplexStream<unknown, T>,
  onMessage?: (msg: T, index: number) => void,
): Promise<StreamOutcome<T>> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let headers: Metadata | undefined;
    let error: ServiceError | undefined;
    let ended = false;
    let status: StatusObject | undefined;
    const maybeDone = () => {
      if (!status) return;
      if (status.code === 0 ? ended : error !== undefined) {
        resolve({ messages, headers, error, status });
      }
    };
    call.on('metadata', (m: Metadata) => {
      headers = m;
    });
    call.on('data', (msg: T) => {
      messages.push(msg);
      onMessage?.(msg, messages.length - 1);
    });
    call.on('end', () => {
      ended = true;
      maybeDone();
    });
    call.on('error', (e: ServiceError) => {
      error = e;
      maybeDone();
    });
    call.on('status', (s: StatusObject) => {
      status = s;
      maybeDone();
    });
  });
}

/** Writes all messages honouring backpressure, then half-closes. */
export async function writeAll<T>(
  call: GrpcJs.ClientWritableStream<T> | GrpcJs.ClientDuplexStream<T, unknown>,
  messages: T[],
): Promise<void> {
  for (const m of messages) {
    if (!call.write(m)) {
      await new Promise<void>((resolve) => call.once('drain', () => resolve()));
    }
  }
  call.end();
}

/** Payload of `size` zero bytes, as the interop server expects and produces. */
export function zeros(size: number): { type: string; body: Buffer } {
  return { type: 'COMPRESSABLE', body: Buffer.alloc(size) };
}

export function isAllZero(buf: Buffer | undefined): boolean {
  if (!buf) return false;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

let tagCounter = 0;
/** A unique tag for x-h2grpc-tag, to find a call's CANCELLED line in the server output. */
export function uniqueTag(prefix: string): string {
  tagCounter += 1;
  return `${prefix}-${process.pid}-${tagCounter}`;
}

/** Logged once per file so failures show which client library ran. */
export function describeClient(): string {
  return `client under test: ${clientName}`;
}
