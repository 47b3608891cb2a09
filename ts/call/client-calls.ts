// The objects a Client hands back to users, one per RPC. They only translate
// between the Node.js event/stream world and the internal `Call`; what the
// server sends reaches them through the listeners in response-listeners.ts.
import { EventEmitter } from 'events';
import { Duplex, Readable, Writable } from 'stream';
import { Status } from '../constants';
import type { Metadata } from '../metadata';
import type { Call, CallListener, StatusObject } from './call-interface';
import type { InterceptingCallInterface } from './client-interceptors';

/**
 * What a call object drives: the transport call itself, or, when the call
 * has interceptors, the outermost of them.
 * @internal
 */
export type SurfaceTarget = Call | InterceptingCallInterface;

/**
 * What the response listeners need of a streaming call object.
 * @internal
 */
export interface ResponseStream extends Readable {
  /** Set by the listener when the status arrives: a later `destroy()` has nothing to cancel. */
  statusReceived: boolean;
}

/**
 * Asks the call for more messages (receive flow control): a transport call
 * counts the messages it delivered while paused as read; an interceptor
 * chain passes grpc-js's `startRead` down to its bottom, which does the same.
 */
function readMore(call: SurfaceTarget): void {
  if ('startRead' in call) call.startRead();
  else call.resumeRead();
}

/**
 * `destroy()` of a streaming call object before its status arrived cancels
 * the call, so the server stops sending. (grpc-js leaves the call running,
 * its HTTP/2 stream paused for good, until the deadline or the server ends it.)
 */
function destroyCall(
  stream: ResponseStream & { call: SurfaceTarget },
  error: Error | null,
  callback: (error?: Error | null) => void,
): void {
  if (!stream.statusReceived) {
    stream.call.cancelWithStatus(Status.CANCELLED, 'Cancelled on client');
  }
  callback(error);
}

/**
 * The error a failed call reports: an `Error` whose message is
 * `"<code> <STATUS_NAME>: <details>"`, carrying the status fields.
 */
export type ServiceError = StatusObject & Error;

/**
 * Receives the outcome of a unary or client-streaming call: a
 * {@link ServiceError}, or `null` and the response.
 */
export type UnaryCallback<ResponseType> = (
  error: ServiceError | null,
  value?: ResponseType,
) => void;

/**
 * Builds the {@link ServiceError} for a non-OK status. The stack names the
 * place the call was made, since the one where the status arrived is
 * transport internals and useless for debugging.
 * @param status The final status of the call.
 * @param callerStack Stack frames of the code that started the call.
 */
export function callErrorFromStatus(status: StatusObject, callerStack: string): ServiceError {
  const message = `${status.code} ${Status[status.code]}: ${status.details}`;
  const error = new Error(message);
  const stack = `${error.stack}\nfor call at\n${callerStack}`;
  return Object.assign(error, status, { stack });
}

/** Argument types of the events every call object emits. */
export interface CallEvents {
  /** Response headers, once, before any message. */
  metadata: Metadata;
  /** Final status with trailers, once, last. */
  status: StatusObject;
}

/** Argument types of the events a call object with a response stream emits. */
export interface ResponseStreamEvents<ResponseType> extends CallEvents {
  /** One response message. */
  data: ResponseType;
}

/**
 * A listener-registration method typed for `Events`, falling back to the
 * untyped EventEmitter signature for every other event name.
 */
export interface EventListenerMethod<Self, Events> {
  <E extends keyof Events>(event: E, listener: (arg: Events[E]) => void): Self;
  // `any[]`, as in EventEmitter's own signature, so that listeners declaring
  // specific parameter types still type-check for events not listed here.
  (event: string | symbol, listener: (...args: any[]) => void): Self;
}

/** What every call object offers, whatever the shape of the RPC. */
export interface SurfaceCall extends EventEmitter {
  /** Cancels the call; it ends with status CANCELLED, `Cancelled on client`. */
  cancel(): void;
  /** The address of the server, or `unknown` before one is known. */
  getPeer(): string;
}

// The transport may not know the peer yet (still connecting); grpc-js says
// 'unknown' then, and code may compare against it.
function peerOf(call: SurfaceTarget): string {
  return call.getPeer() || 'unknown';
}

/**
 * A unary or client-streaming call's handle for `'metadata'` and `'status'`
 * events and cancellation; the response goes to the callback given to the
 * method.
 */
export interface ClientUnaryCall {
  /** Registers a listener; typed for `'metadata'` and `'status'`. */
  on: EventListenerMethod<this, CallEvents>;
  /** Registers a one-time listener; typed for `'metadata'` and `'status'`. */
  once: EventListenerMethod<this, CallEvents>;
  /** Alias of `on`. */
  addListener: EventListenerMethod<this, CallEvents>;
  /** Registers a listener ahead of the others. */
  prependListener: EventListenerMethod<this, CallEvents>;
  /** Registers a one-time listener ahead of the others. */
  prependOnceListener: EventListenerMethod<this, CallEvents>;
}

/**
 * The object a unary call returns. Emits `'metadata'` with the response
 * headers and `'status'` with the final status; the response itself goes to
 * the callback.
 */
export class ClientUnaryCall extends EventEmitter implements SurfaceCall {
  /**
   * The transport call behind this object, or its outermost interceptor.
   * @internal
   */
  readonly call: SurfaceTarget;

  /**
   * Created by {@link Client}; not meant to be constructed by users.
   * @internal
   */
  constructor(call: SurfaceTarget) {
    super();
    this.call = call;
  }

  /** Cancels the call; it ends with status CANCELLED, `Cancelled on client`. */
  cancel(): void {
    this.call.cancelWithStatus(Status.CANCELLED, 'Cancelled on client');
  }

  /** The address of the server, or `unknown` before one is known. */
  getPeer(): string {
    return peerOf(this.call);
  }
}

/**
 * A server-streaming call's object-mode Readable of responses, with
 * `'metadata'` and `'status'` events.
 */
export interface ClientReadableStream<ResponseType> {
  /** Registers a listener; typed for `'metadata'`, `'status'` and `'data'`. */
  on: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Registers a one-time listener; typed for `'metadata'`, `'status'` and `'data'`. */
  once: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Alias of `on`. */
  addListener: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Registers a listener ahead of the others. */
  prependListener: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Registers a one-time listener ahead of the others. */
  prependOnceListener: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
}

/**
 * The object a server-streaming call returns: an object-mode Readable of
 * response messages. On an OK status it ends (`'end'`) after the last
 * message; on any other status it emits `'error'` with a
 * {@link ServiceError}. Either way `'status'` follows.
 */
export class ClientReadableStream<ResponseType>
  extends Readable
  implements SurfaceCall, ResponseStream
{
  /**
   * The transport call behind this object, or its outermost interceptor.
   * @internal
   */
  readonly call: SurfaceTarget;
  /** Turns a response message's bytes into a value. */
  readonly deserialize: (bytes: Buffer) => ResponseType;

  /**
   * Created by {@link Client}; not meant to be constructed by users.
   * @internal
   */
  constructor(call: SurfaceTarget, deserialize: (bytes: Buffer) => ResponseType) {
    super({ objectMode: true });
    this.call = call;
    this.deserialize = deserialize;
  }

  /** Cancels the call; it ends with status CANCELLED, `Cancelled on client`. */
  cancel(): void {
    this.call.cancelWithStatus(Status.CANCELLED, 'Cancelled on client');
  }

  /** The address of the server, or `unknown` before one is known. */
  getPeer(): string {
    return peerOf(this.call);
  }

  /** @internal */
  statusReceived = false;

  /**
   * The consumer's buffer has room again: the messages the call delivered
   * meanwhile count as read, and their bytes go back to the server's window.
   * @internal
   */
  override _read(): void {
    readMore(this.call);
  }

  /** @internal */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    destroyCall(this, error, callback);
  }
}

/**
 * The message of a thrown value, which need not be an Error.
 * @internal
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Status details for a request that cannot be serialized; grpc-js's wording.
 * @internal
 */
export function serializationFailure(error: unknown): string {
  return `Request message serialization failure: ${errorMessage(error)}`;
}

/**
 * Status details for a response that cannot be deserialized; grpc-js's wording.
 * @internal
 */
export function parseFailure(error: unknown): string {
  return `Response message parsing error: ${errorMessage(error)}`;
}

/**
 * Starts a call whose only request travels with the headers. A request that
 * cannot be serialized still starts the call, so that the failure reaches
 * the listener as a status, exactly like any other failure.
 * @internal
 */
export function startWithRequest<RequestType>(
  call: Call,
  metadata: Metadata,
  listener: CallListener,
  serialize: (value: RequestType) => Buffer,
  argument: RequestType,
): void {
  let message: Buffer;
  try {
    message = serialize(argument);
  } catch (error) {
    call.start(metadata, listener);
    call.cancelWithStatus(Status.INTERNAL, serializationFailure(error));
    return;
  }
  call.start(metadata, listener, { message, halfClose: true });
}

// Shared by the writable and duplex streams, which cannot share a base class.
// On a serialization failure the call is cancelled and the write still
// completes: the failure is reported once, as the call's status, and the
// stream does not hang on a write that will never finish.
function writeMessage<RequestType>(
  call: SurfaceTarget,
  intercepted: boolean,
  serialize: (value: RequestType) => Buffer,
  chunk: RequestType,
  callback: () => void,
): void {
  if (intercepted) {
    (call as InterceptingCallInterface).sendMessageWithContext({ callback }, chunk);
    return;
  }
  const transportCall = call as Call;
  let message: Buffer;
  try {
    message = serialize(chunk);
  } catch (error) {
    transportCall.cancelWithStatus(Status.INTERNAL, serializationFailure(error));
    callback();
    return;
  }
  transportCall.sendMessage(message, callback);
}

/** Typed events of a {@link ClientWritableStream}; same as {@link ClientUnaryCall}'s. */
export interface ClientWritableStream<RequestType> {
  /** Registers a listener; typed for `'metadata'` and `'status'`. */
  on: EventListenerMethod<this, CallEvents>;
  /** Registers a one-time listener; typed for `'metadata'` and `'status'`. */
  once: EventListenerMethod<this, CallEvents>;
  /** Alias of `on`. */
  addListener: EventListenerMethod<this, CallEvents>;
  /** Registers a listener ahead of the others. */
  prependListener: EventListenerMethod<this, CallEvents>;
  /** Registers a one-time listener ahead of the others. */
  prependOnceListener: EventListenerMethod<this, CallEvents>;
}

/**
 * The object a client-streaming call returns: an object-mode Writable of
 * request messages; `end()` tells the server no more will come. The response
 * goes to the callback given to the method.
 */
export class ClientWritableStream<RequestType> extends Writable implements SurfaceCall {
  /**
   * The transport call behind this object, or its outermost interceptor.
   * @internal
   */
  readonly call: SurfaceTarget;
  /** Turns a request value into message bytes. */
  readonly serialize: (value: RequestType) => Buffer;

  /**
   * Created by {@link Client}; not meant to be constructed by users.
   * @internal
   */
  /**
   * @param intercepted Whether `call` is an interceptor, which takes request
   *   values (the chain serializes them at its bottom).
   */
  constructor(
    call: SurfaceTarget,
    serialize: (value: RequestType) => Buffer,
    private readonly intercepted = false,
  ) {
    super({ objectMode: true });
    this.call = call;
    this.serialize = serialize;
  }

  /** Cancels the call; it ends with status CANCELLED, `Cancelled on client`. */
  cancel(): void {
    this.call.cancelWithStatus(Status.CANCELLED, 'Cancelled on client');
  }

  /** The address of the server, or `unknown` before one is known. */
  getPeer(): string {
    return peerOf(this.call);
  }

  /**
   * Serializes one request and hands it to the transport.
   * @internal
   */
  override _write(chunk: RequestType, _encoding: BufferEncoding, callback: () => void): void {
    writeMessage(this.call, this.intercepted, this.serialize, chunk, callback);
  }

  /**
   * Runs on `end()`: tells the server no more requests will come.
   * @internal
   */
  override _final(callback: () => void): void {
    this.call.halfClose();
    callback();
  }
}

/** Typed events of a {@link ClientDuplexStream}. */
export interface ClientDuplexStream<RequestType, ResponseType> {
  /** Registers a listener; typed for `'metadata'`, `'status'` and `'data'`. */
  on: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Registers a one-time listener; typed for `'metadata'`, `'status'` and `'data'`. */
  once: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Alias of `on`. */
  addListener: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Registers a listener ahead of the others. */
  prependListener: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
  /** Registers a one-time listener ahead of the others. */
  prependOnceListener: EventListenerMethod<this, ResponseStreamEvents<ResponseType>>;
}

/**
 * The object a bidirectional-streaming call returns: an object-mode Duplex
 * that writes requests and reads responses, with the reading side behaving
 * as {@link ClientReadableStream} and the writing side as
 * {@link ClientWritableStream}.
 */
export class ClientDuplexStream<RequestType, ResponseType>
  extends Duplex
  implements SurfaceCall, ResponseStream
{
  /**
   * The transport call behind this object, or its outermost interceptor.
   * @internal
   */
  readonly call: SurfaceTarget;
  /** Turns a request value into message bytes. */
  readonly serialize: (value: RequestType) => Buffer;
  /** Turns a response message's bytes into a value. */
  readonly deserialize: (bytes: Buffer) => ResponseType;

  /**
   * Created by {@link Client}; not meant to be constructed by users.
   * @internal
   */
  /**
   * @param intercepted Whether `call` is an interceptor, which takes request
   *   values (the chain serializes them at its bottom).
   */
  constructor(
    call: SurfaceTarget,
    serialize: (value: RequestType) => Buffer,
    deserialize: (bytes: Buffer) => ResponseType,
    private readonly intercepted = false,
  ) {
    super({ objectMode: true });
    this.call = call;
    this.serialize = serialize;
    this.deserialize = deserialize;
  }

  /** Cancels the call; it ends with status CANCELLED, `Cancelled on client`. */
  cancel(): void {
    this.call.cancelWithStatus(Status.CANCELLED, 'Cancelled on client');
  }

  /** The address of the server, or `unknown` before one is known. */
  getPeer(): string {
    return peerOf(this.call);
  }

  /** @internal */
  statusReceived = false;

  /**
   * The consumer's buffer has room again: the messages the call delivered
   * meanwhile count as read, and their bytes go back to the server's window.
   * @internal
   */
  override _read(): void {
    readMore(this.call);
  }

  /** @internal */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    destroyCall(this, error, callback);
  }

  /**
   * Serializes one request and hands it to the transport.
   * @internal
   */
  override _write(chunk: RequestType, _encoding: BufferEncoding, callback: () => void): void {
    writeMessage(this.call, this.intercepted, this.serialize, chunk, callback);
  }

  /**
   * Runs on `end()`: tells the server no more requests will come.
   * @internal
   */
  override _final(callback: () => void): void {
    this.call.halfClose();
    callback();
  }
}
