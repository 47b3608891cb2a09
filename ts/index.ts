/**
 * h2grpc: a gRPC client for Node.js with a native HTTP/2 transport. Its
 * client API matches `@grpc/grpc-js`, so switching is a change of import.
 * @packageDocumentation
 */
import type {
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
} from './call/client-calls';
import type { Deadline } from './call/call-interface';
import type { Client } from './client';
import type { ChannelInterface } from './channel-interface';

export { Client, type CallOptions, type ClientOptions } from './client';
export { Metadata, type MetadataOptions, type MetadataValue } from './metadata';
export {
  Status,
  Status as status,
  ConnectivityState as connectivityState,
  Propagate as propagate,
  LogVerbosity as logVerbosity,
  CompressionAlgorithms as compressionAlgorithms,
} from './constants';
export { setLogger, setLogVerbosity, type Logger } from './logging';
export type {
  ServiceConfig,
  LoadBalancingConfig,
  MethodConfig,
  RetryPolicy,
} from './service-config';
export {
  credentials,
  ChannelCredentials,
  CallCredentials,
  type CallMetadataGenerator,
  type CallMetadataOptions,
  type OAuth2Client,
  type VerifyOptions,
} from './credentials';
export {
  makeClientConstructor,
  makeClientConstructor as makeGenericClientConstructor,
  loadPackageDefinition,
  type ClientMethodDefinition,
  type Deserialize as deserialize,
  type GrpcObject,
  type MethodDefinition,
  type PackageDefinition,
  type ProtobufTypeDefinition,
  type Serialize as serialize,
  type ServerMethodDefinition,
  type ServiceClient,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from './make-client';
export { Channel, type ChannelOptions, type ChannelRef } from './channel';
export type { ChannelInterface } from './channel-interface';
export type { Deadline, StatusObject } from './call/call-interface';
export {
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
  type CallEvents,
  type EventListenerMethod,
  type ResponseStreamEvents,
  type ServiceError,
  type SurfaceCall,
  type UnaryCallback,
  type UnaryCallback as requestCallback,
} from './call/client-calls';

/** Any of the objects a client method returns. */
export type Call =
  | ClientUnaryCall
  | ClientReadableStream<unknown>
  | ClientWritableStream<unknown>
  | ClientDuplexStream<unknown, unknown>;

/**
 * Closes a client's channel; same as `client.close()`.
 * @param client The client to close.
 */
export function closeClient(client: Client): void {
  client.close();
}

/**
 * Calls `callback` once the client's channel is ready; same as
 * `client.waitForReady(deadline, callback)`.
 * @param client The client whose channel to wait for.
 * @param deadline A Date or milliseconds since the epoch.
 * @param callback Called without arguments when ready, with an Error otherwise.
 */
export function waitForClientReady(
  client: Client,
  deadline: Deadline,
  callback: (error?: Error) => void,
): void {
  client.waitForReady(deadline, callback);
}

/**
 * Returns the channel a client sends its calls on; same as `client.getChannel()`.
 * @param client The client.
 */
export function getClientChannel(client: Client): ChannelInterface {
  return client.getChannel();
}

export { StatusBuilder } from './call/status-builder';
export type { Listener, InterceptingListener } from './call/intercepting-listener';
export {
  ListenerBuilder,
  RequesterBuilder,
  InterceptingCall,
  InterceptorConfigurationError,
  type Requester,
  type Interceptor,
  type InterceptorOptions,
  type InterceptorProvider,
  type NextCall,
} from './call/client-interceptors';

export { nativeStats, type NativeStats } from './native-stats';

/**
 * Removed in grpc-js (it belonged to the old `grpc` package); kept so code
 * that references it fails the same way.
 * @throws Error always: use `@grpc/proto-loader` and {@link loadPackageDefinition}.
 */
export function loadObject(_value: unknown, _options: unknown): never {
  throw new Error(
    'Not available in this library. Use @grpc/proto-loader and loadPackageDefinition instead',
  );
}

/**
 * Removed in grpc-js (it belonged to the old `grpc` package); kept so code
 * that references it fails the same way.
 * @throws Error always: use `@grpc/proto-loader` and {@link loadPackageDefinition}.
 */
export function load(_filename: unknown, _format: unknown, _options: unknown): never {
  throw new Error(
    'Not available in this library. Use @grpc/proto-loader and loadPackageDefinition instead',
  );
}

/** Plugin API for resolvers and load balancers, shaped like grpc-js's `experimental`. */
export * as experimental from './experimental';

// The modern client API (ts/modern/): promises, async iterables, AbortSignal.
export { createClient, type ServiceConstructorLike } from './modern/client';
export { GrpcError } from './modern/errors';
export type { MetadataInit, ModernCallOptions } from './modern/options';
export type { RequestSource } from './modern/request-pump';
export type {
  BidiStream,
  BidiStreamingMethod,
  BidiStreamingMethodDefinition,
  ClientStreamingMethod,
  ClientStreamingMethodDefinition,
  KindOf,
  MethodKind,
  MethodKindUnknown,
  MethodKinds,
  ModernClient,
  ModernClientBase,
  ModernMethod,
  ModernMethodDefinition,
  RequestOf,
  ResponseOf,
  ResponseStream,
  ServerStreamingMethod,
  ServerStreamingMethodDefinition,
  UnaryMethod,
  UnaryMethodDefinition,
  UntypedModernClient,
} from './modern/types';
// Server side: delegated to a real @grpc/grpc-js, loaded on first use (ts/server.ts).
export {
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  ResponderBuilder,
  ServerListenerBuilder,
  ServerMetricRecorder,
  addAdminServicesToServer,
  getChannelzServiceDefinition,
  getChannelzHandlers,
  type ConnectionInjector,
  type FullResponder,
  type FullServerListener,
  type KeyCertPair,
  type Responder,
  type ServerDuplexStream,
  type ServerErrorResponse,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerListener,
  type ServerOptions,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type sendUnaryData,
} from './server';
