// The generic client: the four ways to start an RPC, with grpc-js's argument
// conventions. Each method creates one transport call and starts it at once;
// unary and server-streaming calls hand over their only request and the
// half-close together with the headers, so the transport can send all of it
// in one step.
import { unaryCallerStack } from './call/caller-stack';
import { Channel, type ChannelOptions } from './channel';
import type { ChannelInterface } from './channel-interface';
import type { Call, Deadline } from './call/call-interface';
import {
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
  startWithRequest,
  type UnaryCallback,
} from './call/client-calls';
import {
  getCall,
  getInterceptingCall,
  type Interceptor,
  type InterceptingCallInterface,
  type InterceptorProvider,
} from './call/client-interceptors';
import {
  InterceptedStreamListener,
  InterceptedUnaryListener,
  StreamResponseListener,
  UnaryResponseListener,
} from './call/response-listeners';
import { ConnectivityState } from './constants';
import type { CallCredentials, ChannelCredentials } from './credentials';
import type { ClientMethodDefinition } from './make-client';
import { Metadata } from './metadata';

/** Per-call settings; the same names as `@grpc/grpc-js`'s `CallOptions`. */
export interface CallOptions {
  /** When the call fails with DEADLINE_EXCEEDED: a Date or milliseconds since the epoch. */
  deadline?: Deadline;
  /** Overrides the `:authority` the call is sent with. */
  host?: string;
  /** A server call whose deadline and cancellation this call inherits, per `propagate_flags`. */
  parent?: unknown;
  /** Which properties of `parent` to inherit; a combination of `propagate` flags. */
  propagate_flags?: number;
  /** Call credentials for this call, applied after the channel's. */
  credentials?: CallCredentials;
  /**
   * Interceptors for this call, outermost first. Given (non-empty), they and
   * `interceptor_providers` replace the client's interceptors entirely.
   */
  interceptors?: Interceptor[];
  /** Interceptor providers for this call; not together with `interceptors`. */
  interceptor_providers?: InterceptorProvider[];
}

/**
 * Options for a {@link Client}: channel options by their grpc-js names (for
 * example `grpc.max_receive_message_length`), plus these client-only keys.
 */
export interface ClientOptions {
  /** Use this channel instead of creating one. */
  channelOverride?: ChannelInterface;
  /** Create the channel with this function instead of `new Channel(...)`. */
  channelFactoryOverride?: (
    address: string,
    credentials: ChannelCredentials,
    options: ClientOptions,
  ) => ChannelInterface;
  /** Interceptors for every call of this client, outermost first (unless a call brings its own). */
  interceptors?: Interceptor[];
  /** Interceptor providers for every call; not together with `interceptors`. */
  interceptor_providers?: InterceptorProvider[];
  /** Not supported yet: the constructor throws if it is set. */
  callInvocationTransformer?: unknown;
  /** Channel options, passed to the channel. */
  [channelOption: string]: unknown;
}

// Shared by every call made without options; never written to.
const NO_OPTIONS: CallOptions = Object.freeze({});

interface UnaryArguments<ResponseType> {
  metadata: Metadata;
  options: CallOptions;
  callback: UnaryCallback<ResponseType>;
}

// grpc-js lets metadata and options be left out; the callback is always last.
function unaryArguments<ResponseType>(
  arg1: Metadata | CallOptions | UnaryCallback<ResponseType>,
  arg2?: CallOptions | UnaryCallback<ResponseType>,
  arg3?: UnaryCallback<ResponseType>,
): UnaryArguments<ResponseType> {
  if (typeof arg1 === 'function') {
    return { metadata: new Metadata(), options: NO_OPTIONS, callback: arg1 };
  }
  if (typeof arg2 === 'function') {
    return arg1 instanceof Metadata
      ? { metadata: arg1, options: NO_OPTIONS, callback: arg2 }
      : { metadata: new Metadata(), options: arg1, callback: arg2 };
  }
  if (!(arg1 instanceof Metadata && arg2 instanceof Object && typeof arg3 === 'function')) {
    throw new Error('Incorrect arguments passed');
  }
  return { metadata: arg1, options: arg2, callback: arg3 };
}

/**
 * A generic gRPC client, and the base class of the service clients that
 * {@link makeClientConstructor} and {@link loadPackageDefinition} create.
 * Its `make*Request` methods take a full method path such as
 * `/pkg.Service/Method` and the message (de)serializers.
 */
export class Client {
  readonly #channel: ChannelInterface;
  readonly #interceptors: Interceptor[];
  readonly #interceptorProviders: InterceptorProvider[];
  /** Whether every call goes through interceptors; decided once, not per call. */
  readonly #intercepted: boolean;

  /**
   * @param address The server's address, e.g. `localhost:50051`.
   * @param credentials From {@link credentials}.
   * @param options Channel options and client-only settings.
   * @throws Error if both `interceptors` and `interceptor_providers` are given
   *   (a plain Error, as grpc-js throws here), or if `callInvocationTransformer` is given.
   */
  constructor(address: string, credentials: ChannelCredentials, options: ClientOptions = {}) {
    const {
      channelOverride,
      channelFactoryOverride,
      interceptors,
      interceptor_providers,
      callInvocationTransformer,
      ...channelOptions
    } = options;
    if ((interceptors?.length ?? 0) > 0 && (interceptor_providers?.length ?? 0) > 0) {
      throw new Error(
        'Both interceptors and interceptor_providers were passed as options ' +
          'to the client constructor. Only one of these is allowed.',
      );
    }
    this.#interceptors = interceptors ?? [];
    this.#interceptorProviders = interceptor_providers ?? [];
    this.#intercepted = this.#interceptors.length > 0 || this.#interceptorProviders.length > 0;
    if (callInvocationTransformer !== undefined) {
      // Ignoring it would silently change what every call does.
      throw new Error('h2grpc: the callInvocationTransformer client option is not supported yet');
    }
    if (channelOverride) {
      this.#channel = channelOverride;
    } else if (channelFactoryOverride) {
      this.#channel = channelFactoryOverride(address, credentials, channelOptions);
    } else {
      this.#channel = new Channel(address, credentials, channelOptions as ChannelOptions);
    }
  }

  /** Closes the channel: calls in flight finish, queued and new calls fail with UNAVAILABLE. */
  close(): void {
    this.#channel.close();
  }

  /** The channel this client sends its calls on. */
  getChannel(): ChannelInterface {
    return this.#channel;
  }

  /**
   * Connects the channel if it is idle and calls `callback` once it is
   * ready, or with an Error if the deadline passes first or the channel is
   * closed.
   * @param deadline A Date or milliseconds since the epoch.
   */
  waitForReady(deadline: Deadline, callback: (error?: Error) => void): void {
    const channel = this.#channel;
    const check = (error?: Error): void => {
      if (error) {
        callback(new Error('Failed to connect before the deadline'));
        return;
      }
      let state: ConnectivityState;
      try {
        state = channel.getConnectivityState(true);
      } catch {
        callback(new Error('The channel has been closed'));
        return;
      }
      if (state === ConnectivityState.READY) {
        callback();
        return;
      }
      try {
        channel.watchConnectivityState(state, deadline, check);
      } catch {
        callback(new Error('The channel has been closed'));
      }
    };
    // Always asynchronous, even when the channel is ready already.
    setImmediate(check);
  }

  private createCall(method: string, options: CallOptions): Call {
    return getCall(this.#channel, method, options);
  }

  // Calls without interceptors skip the chain entirely: their call objects
  // drive the transport call and (de)serialize themselves.
  private intercepts(options: CallOptions): boolean {
    return (
      this.#intercepted ||
      (options.interceptors?.length ?? 0) > 0 ||
      (options.interceptor_providers?.length ?? 0) > 0
    );
  }

  private interceptingCall<RequestType, ResponseType>(
    methodDefinition: ClientMethodDefinition<RequestType, ResponseType>,
    options: CallOptions,
  ): InterceptingCallInterface {
    return getInterceptingCall(
      {
        clientInterceptors: this.#interceptors,
        clientInterceptorProviders: this.#interceptorProviders,
        callInterceptors: options.interceptors ?? [],
        callInterceptorProviders: options.interceptor_providers ?? [],
      },
      methodDefinition,
      options,
      this.#channel,
    );
  }

  /**
   * Starts a call with one request and one response.
   * @param method Full method path, e.g. `/pkg.Service/Method`.
   * @param serialize Turns the request into bytes.
   * @param deserialize Turns the response bytes into a value.
   * @param argument The request.
   * @param metadata Request metadata (optional).
   * @param options Per-call options (optional).
   * @param callback Receives a {@link ServiceError} or the response.
   * @returns The call, for `'metadata'`/`'status'` events and cancellation.
   * @throws InterceptorConfigurationError if `options` has both `interceptors` and
   *   `interceptor_providers`.
   */
  makeUnaryRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    metadata: Metadata,
    options: CallOptions,
    callback: UnaryCallback<ResponseType>,
  ): ClientUnaryCall;
  makeUnaryRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    metadata: Metadata,
    callback: UnaryCallback<ResponseType>,
  ): ClientUnaryCall;
  makeUnaryRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    options: CallOptions,
    callback: UnaryCallback<ResponseType>,
  ): ClientUnaryCall;
  makeUnaryRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    callback: UnaryCallback<ResponseType>,
  ): ClientUnaryCall;
  makeUnaryRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    metadata: Metadata | CallOptions | UnaryCallback<ResponseType>,
    options?: CallOptions | UnaryCallback<ResponseType>,
    callback?: UnaryCallback<ResponseType>,
  ): ClientUnaryCall {
    const args = unaryArguments(metadata, options, callback);
    if (this.intercepts(args.options)) {
      const chain = this.interceptingCall(
        {
          path: method,
          requestStream: false,
          responseStream: false,
          requestSerialize: serialize,
          responseDeserialize: deserialize,
        },
        args.options,
      );
      const surface = new ClientUnaryCall(chain);
      chain.start(
        args.metadata,
        new InterceptedUnaryListener(surface, chain, args.callback, unaryCallerStack()),
      );
      chain.sendMessage(argument);
      chain.halfClose();
      return surface;
    }
    const call = this.createCall(method, args.options);
    const surface = new ClientUnaryCall(call);
    const listener = new UnaryResponseListener(
      surface,
      call,
      deserialize,
      args.callback,
      unaryCallerStack(),
    );
    startWithRequest(call, args.metadata, listener, serialize, argument);
    return surface;
  }

  /**
   * Starts a call with a stream of requests and one response.
   * @param method Full method path, e.g. `/pkg.Service/Method`.
   * @param serialize Turns a request into bytes.
   * @param deserialize Turns the response bytes into a value.
   * @param metadata Request metadata (optional).
   * @param options Per-call options (optional).
   * @param callback Receives a {@link ServiceError} or the response.
   * @returns A Writable for the requests; `end()` it after the last one.
   * @throws InterceptorConfigurationError if `options` has both `interceptors` and
   *   `interceptor_providers`.
   */
  makeClientStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata: Metadata,
    options: CallOptions,
    callback: UnaryCallback<ResponseType>,
  ): ClientWritableStream<RequestType>;
  makeClientStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata: Metadata,
    callback: UnaryCallback<ResponseType>,
  ): ClientWritableStream<RequestType>;
  makeClientStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    options: CallOptions,
    callback: UnaryCallback<ResponseType>,
  ): ClientWritableStream<RequestType>;
  makeClientStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    callback: UnaryCallback<ResponseType>,
  ): ClientWritableStream<RequestType>;
  makeClientStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata: Metadata | CallOptions | UnaryCallback<ResponseType>,
    options?: CallOptions | UnaryCallback<ResponseType>,
    callback?: UnaryCallback<ResponseType>,
  ): ClientWritableStream<RequestType> {
    const args = unaryArguments(metadata, options, callback);
    if (this.intercepts(args.options)) {
      const chain = this.interceptingCall(
        {
          path: method,
          requestStream: true,
          responseStream: false,
          requestSerialize: serialize,
          responseDeserialize: deserialize,
        },
        args.options,
      );
      const stream = new ClientWritableStream(chain, serialize, true);
      chain.start(
        args.metadata,
        new InterceptedUnaryListener(stream, chain, args.callback, new Error()),
      );
      return stream;
    }
    const call = this.createCall(method, args.options);
    const stream = new ClientWritableStream(call, serialize);
    call.start(
      args.metadata,
      new UnaryResponseListener(stream, call, deserialize, args.callback, new Error()),
    );
    return stream;
  }

  /**
   * Starts a call with one request and a stream of responses.
   * @param method Full method path, e.g. `/pkg.Service/Method`.
   * @param serialize Turns the request into bytes.
   * @param deserialize Turns response bytes into a value.
   * @param argument The request.
   * @param metadata Request metadata (optional).
   * @param options Per-call options (optional).
   * @returns A Readable of the responses.
   * @throws InterceptorConfigurationError if `options` has both `interceptors` and
   *   `interceptor_providers`.
   */
  makeServerStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    metadata: Metadata,
    options?: CallOptions,
  ): ClientReadableStream<ResponseType>;
  makeServerStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    options?: CallOptions,
  ): ClientReadableStream<ResponseType>;
  makeServerStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    argument: RequestType,
    metadata?: Metadata | CallOptions,
    options?: CallOptions,
  ): ClientReadableStream<ResponseType> {
    let callOptions: CallOptions;
    if (metadata instanceof Metadata) {
      callOptions = options || NO_OPTIONS;
    } else {
      callOptions = metadata || NO_OPTIONS;
      metadata = new Metadata();
    }
    if (this.intercepts(callOptions)) {
      const chain = this.interceptingCall(
        {
          path: method,
          requestStream: false,
          responseStream: true,
          requestSerialize: serialize,
          responseDeserialize: deserialize,
        },
        callOptions,
      );
      const stream = new ClientReadableStream(chain, deserialize);
      chain.start(metadata, new InterceptedStreamListener(stream, chain, new Error()));
      chain.sendMessage(argument);
      chain.halfClose();
      return stream;
    }
    const call = this.createCall(method, callOptions);
    const stream = new ClientReadableStream(call, deserialize);
    const listener = new StreamResponseListener(stream, call, deserialize, new Error());
    startWithRequest(call, metadata, listener, serialize, argument);
    return stream;
  }

  /**
   * Starts a call with a stream of requests and a stream of responses.
   * @param method Full method path, e.g. `/pkg.Service/Method`.
   * @param serialize Turns a request into bytes.
   * @param deserialize Turns response bytes into a value.
   * @param metadata Request metadata (optional).
   * @param options Per-call options (optional).
   * @returns A Duplex: write requests (then `end()`), read responses.
   * @throws InterceptorConfigurationError if `options` has both `interceptors` and
   *   `interceptor_providers`.
   */
  makeBidiStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata: Metadata,
    options?: CallOptions,
  ): ClientDuplexStream<RequestType, ResponseType>;
  makeBidiStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    options?: CallOptions,
  ): ClientDuplexStream<RequestType, ResponseType>;
  makeBidiStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata?: Metadata | CallOptions,
    options?: CallOptions,
  ): ClientDuplexStream<RequestType, ResponseType> {
    let callOptions: CallOptions;
    if (metadata instanceof Metadata) {
      callOptions = options || NO_OPTIONS;
    } else {
      callOptions = metadata || NO_OPTIONS;
      metadata = new Metadata();
    }
    if (this.intercepts(callOptions)) {
      const chain = this.interceptingCall(
        {
          path: method,
          requestStream: true,
          responseStream: true,
          requestSerialize: serialize,
          responseDeserialize: deserialize,
        },
        callOptions,
      );
      const stream = new ClientDuplexStream(chain, serialize, deserialize, true);
      chain.start(metadata, new InterceptedStreamListener(stream, chain, new Error()));
      return stream;
    }
    const call = this.createCall(method, callOptions);
    const stream = new ClientDuplexStream(call, serialize, deserialize);
    call.start(metadata, new StreamResponseListener(stream, call, deserialize, new Error()));
    return stream;
  }
}
