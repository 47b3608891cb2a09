// Compile-time shape of a modern client, computed from a service
// definition. A method's request and response types come from its
// serializer and deserializer; its kind (which of the four call shapes it
// has) from literal `requestStream`/`responseStream` flags when the type has
// them, or else from a second type argument: a map of method kinds, or the
// grpc-js client interface that proto-loader-gen-types emits next to the
// definition (the return type of each method tells its kind).
import type { ChannelInterface } from '../channel-interface';
import type { ModernCallOptions } from './options';
import type { RequestSource } from './request-pump';

/** The four shapes of an RPC. */
export type MethodKind = 'unary' | 'serverStreaming' | 'clientStreaming' | 'bidiStreaming';

/**
 * A method definition as a modern client reads it; @grpc/proto-loader's and
 * grpc-js's `MethodDefinition` fit. Declare your own with literal flags
 * (`requestStream: false`) and the kind needs no separate declaration.
 */
export interface ModernMethodDefinition<Req, Res> {
  /** Full method path, `/pkg.Service/Method`. */
  path: string;
  /** Whether the client sends a stream of requests. */
  requestStream: boolean;
  /** Whether the server sends a stream of responses. */
  responseStream: boolean;
  /** Turns a request into bytes. */
  requestSerialize: (value: Req) => Buffer;
  /** Turns response bytes into a value. */
  responseDeserialize: (bytes: Buffer) => Res;
  /** The lowerCamel name proto-loader records; the method answers to it too. */
  originalName?: string;
}

/** A unary method definition with literal flags, for hand-written service types. */
export interface UnaryMethodDefinition<Req, Res> extends ModernMethodDefinition<Req, Res> {
  /** Always false. */
  requestStream: false;
  /** Always false. */
  responseStream: false;
}

/** A server-streaming method definition with literal flags, for hand-written service types. */
export interface ServerStreamingMethodDefinition<Req, Res> extends ModernMethodDefinition<
  Req,
  Res
> {
  /** Always false. */
  requestStream: false;
  /** Always true. */
  responseStream: true;
}

/** A client-streaming method definition with literal flags, for hand-written service types. */
export interface ClientStreamingMethodDefinition<Req, Res> extends ModernMethodDefinition<
  Req,
  Res
> {
  /** Always true. */
  requestStream: true;
  /** Always false. */
  responseStream: false;
}

/** A bidi-streaming method definition with literal flags, for hand-written service types. */
export interface BidiStreamingMethodDefinition<Req, Res> extends ModernMethodDefinition<Req, Res> {
  /** Always true. */
  requestStream: true;
  /** Always true. */
  responseStream: true;
}

/**
 * The responses of a server-streaming call: iterate with `for await`.
 * Leaving the loop early cancels the call; a non-OK status is thrown from
 * the loop as a {@link GrpcError}.
 */
export interface ResponseStream<Res> extends AsyncIterableIterator<Res> {}

/**
 * A bidi call: its responses as a {@link ResponseStream}, and its requests
 * written with `write()` (await each for backpressure) and ended with
 * `end()`, unless an iterable of requests was given to the method.
 */
export interface BidiStream<Req, Res> extends ResponseStream<Res> {
  /**
   * Sends one request; resolves once the transport took it or the call
   * ended. Never rejects: the call's outcome comes through the iteration.
   */
  write(request: Req): Promise<void>;
  /** Half-closes: no more requests. Idempotent. */
  end(): void;
}

/** A unary method: one request, a promise of the response. */
export type UnaryMethod<Req, Res> = (request: Req, options?: ModernCallOptions) => Promise<Res>;

/** A server-streaming method: one request, an async iterator of responses (started on the first `next()`). */
export type ServerStreamingMethod<Req, Res> = (
  request: Req,
  options?: ModernCallOptions,
) => ResponseStream<Res>;

/** A client-streaming method: requests from an (async) iterable, a promise of the response. */
export type ClientStreamingMethod<Req, Res> = (
  requests: RequestSource<Req>,
  options?: ModernCallOptions,
) => Promise<Res>;

/** A bidi method: requests from an (async) iterable or written by hand, responses iterated. */
export type BidiStreamingMethod<Req, Res> = (
  requests?: RequestSource<Req>,
  options?: ModernCallOptions,
) => BidiStream<Req, Res>;

/**
 * The type of a method whose kind the types do not tell (its definition's
 * flags are plain `boolean` and no kind was given): not callable, so the
 * mistake shows at compile time. Name it in `createClient`'s second type
 * argument.
 */
export interface MethodKindUnknown<Name extends string> {
  /** Why this method cannot be called. */
  readonly 'h2grpc: give the kind of this method in the second type argument of createClient': Name;
}

/** The request type of a method definition (what its serializer takes). */
export type RequestOf<D> = D extends { requestSerialize: (value: infer Req) => unknown }
  ? Req
  : never;

/** The response type of a method definition (what its deserializer returns). */
export type ResponseOf<D> = D extends { responseDeserialize: (bytes: Buffer) => infer Res }
  ? Res
  : never;

/** The kind that literal `requestStream`/`responseStream` flags tell, or undefined for `boolean`. */
type KindFromFlags<D> = D extends { requestStream: infer A; responseStream: infer B }
  ? boolean extends A
    ? undefined
    : boolean extends B
      ? undefined
      : A extends true
        ? B extends true
          ? 'bidiStreaming'
          : 'clientStreaming'
        : B extends true
          ? 'serverStreaming'
          : 'unary'
  : undefined;

/** The kind a grpc-js call object tells: Duplex, Readable, Writable or a plain call. */
type KindOfCallObject<R> = R extends { read: unknown; write: unknown }
  ? 'bidiStreaming'
  : R extends { read: unknown }
    ? 'serverStreaming'
    : R extends { write: unknown }
      ? 'clientStreaming'
      : 'unary';

/** A kind hint: a {@link MethodKind}, or a grpc-js client method (its return type tells). */
type KindFromHint<H> = H extends MethodKind
  ? H
  : H extends (...args: any[]) => infer R
    ? KindOfCallObject<R>
    : undefined;

/**
 * A map from method name to {@link MethodKind}: one of the two hints
 * `createClient` takes as its second type argument when the definition's
 * flags are plain `boolean` (as in proto-loader-gen-types output); the other
 * is the generated `*Client` interface itself.
 */
export type MethodKinds<S> = { readonly [M in keyof S]?: MethodKind };

/** The kind of method `M`: from the hint `K` if it names `M`, else from the definition's flags. */
export type KindOf<S, K, M extends keyof S> = M extends keyof K
  ? KindFromHint<K[M]>
  : KindFromFlags<S[M]>;

/** The modern method type for a definition `D` of kind `Kind`. */
export type ModernMethod<D, Kind, Name extends string> = Kind extends 'unary'
  ? UnaryMethod<RequestOf<D>, ResponseOf<D>>
  : Kind extends 'serverStreaming'
    ? ServerStreamingMethod<RequestOf<D>, ResponseOf<D>>
    : Kind extends 'clientStreaming'
      ? ClientStreamingMethod<RequestOf<D>, ResponseOf<D>>
      : Kind extends 'bidiStreaming'
        ? BidiStreamingMethod<RequestOf<D>, ResponseOf<D>>
        : MethodKindUnknown<Name>;

/** The named (not index-signature) keys of `T`. */
type KnownKeys<T> = keyof {
  [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K];
};

/** What every modern client has besides its methods; `$` names cannot clash with proto names. */
export interface ModernClientBase {
  /** The channel the client's calls go on. */
  readonly $channel: ChannelInterface;
  /** Closes the channel if the client created it (it was given a target string); otherwise does nothing. */
  $close(): void;
}

/** A client for a definition whose methods the types do not name (an untyped `ServiceDefinition`). */
export interface UntypedModernClient extends ModernClientBase {
  /** Each method by name; its shape depends on the method's kind at run time. */
  [method: string]: any;
}

/**
 * A modern client for service definition `S`: each method under its
 * definition name and under that name with a lowercase first letter (as
 * grpc-js exposes proto-loader's lowerCamel `originalName`).
 * @typeParam S The service definition type.
 * @typeParam K Kinds of methods whose definition flags are plain `boolean`:
 *   a {@link MethodKind} map or the generated grpc-js client interface.
 */
export type ModernClient<S, K = {}> = [KnownKeys<S>] extends [never]
  ? UntypedModernClient
  : {
      [M in KnownKeys<S> & string]: ModernMethod<S[M], KindOf<S, K, M>, M>;
    } & {
      [M in KnownKeys<S> & string as Uncapitalize<M>]: ModernMethod<S[M], KindOf<S, K, M>, M>;
    } & ModernClientBase;
