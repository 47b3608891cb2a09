// createClient: a plain object with one function per RPC, built once per
// client from the service definition. Each function goes straight to the
// channel's `createCall`; there is no grpc-js Client in between, so a unary
// call costs one listener object and one promise on top of the transport
// call.
import { Channel, type ChannelOptions } from '../channel';
import type { ChannelInterface } from '../channel-interface';
import { ChannelCredentials } from '../credentials';
import { NO_CALL_OPTIONS, type ModernCallOptions } from './options';
import type { RequestSource } from './request-pump';
import { bidiStreamingCall, serverStreamingCall } from './response-stream';
import type { ModernClient, ModernMethodDefinition } from './types';
import { clientStreamingCall, unaryCall, type MethodInfo } from './unary';

/** A class made by `loadPackageDefinition` (or generated types' constructor type): it carries the definition as `service`. */
export interface ServiceConstructorLike<S> {
  /** The service definition. */
  service: S;
  new (...args: any[]): object;
}

// Names that must not become properties, or a crafted definition could
// replace the object's prototype (same guard as makeClientConstructor).
function isUnsafeName(name: string): boolean {
  return name === '__proto__' || name === 'prototype' || name === 'constructor';
}

function methodFor(
  channel: ChannelInterface,
  definition: ModernMethodDefinition<unknown, unknown>,
): (...args: any[]) => unknown {
  const method: MethodInfo<unknown, unknown> = {
    path: definition.path,
    serialize: definition.requestSerialize,
    deserialize: definition.responseDeserialize,
  };
  if (definition.requestStream) {
    return definition.responseStream
      ? (requests?: RequestSource<unknown>, options?: ModernCallOptions) =>
          bidiStreamingCall(channel, method, requests, options ?? NO_CALL_OPTIONS)
      : (requests: RequestSource<unknown>, options?: ModernCallOptions) =>
          clientStreamingCall(channel, method, requests, options ?? NO_CALL_OPTIONS);
  }
  return definition.responseStream
    ? (request: unknown, options?: ModernCallOptions) =>
        serverStreamingCall(channel, method, request, options ?? NO_CALL_OPTIONS)
    : (request: unknown, options?: ModernCallOptions) =>
        unaryCall(channel, method, request, options ?? NO_CALL_OPTIONS);
}

/**
 * Creates a modern client for a service: an object with one function per
 * RPC, under the definition's method name and its lowerCamel form.
 *
 * - unary: `(request, options?) => Promise<Response>`
 * - server streaming: `(request, options?) => AsyncIterableIterator<Response>`
 * - client streaming: `(requests: Iterable | AsyncIterable, options?) => Promise<Response>`
 * - bidi: `(requests?, options?) => BidiStream` (async iterable of
 *   responses, plus `write()`/`end()` when no iterable was given)
 *
 * Failures reject (or are thrown from the loop) as {@link GrpcError}. See
 * {@link ModernCallOptions} for per-call `metadata`, `signal`, `timeout`,
 * `deadline`, `onHeader` and `onTrailer`.
 *
 * Types: with types from `proto-loader-gen-types`, pass the service's
 * constructor from the generated `ProtoGrpcType` and everything is
 * inferred, or pass the definition and name the generated client interface
 * as the second type argument (the generated definition types say
 * `requestStream: boolean`, so the kinds come from the client interface).
 *
 * @example
 * ```ts
 * import * as protoLoader from '@grpc/proto-loader';
 * import { createClient, loadPackageDefinition, GrpcError, status } from 'h2grpc';
 * import type { ProtoGrpcType } from './generated/test';
 *
 * const def = protoLoader.loadSync('grpc/testing/test.proto', { keepCase: true });
 * const proto = loadPackageDefinition(def) as unknown as ProtoGrpcType;
 * const client = createClient(proto.grpc.testing.TestService, 'localhost:50051');
 *
 * const reply = await client.unaryCall({ response_size: 10 }, { timeout: 1000 });
 * for await (const part of client.streamingOutputCall({ response_parameters: [{ size: 5 }] })) {
 *   console.log(part.payload?.body?.length);
 * }
 * try {
 *   await client.unaryCall({ response_status: { code: 5, message: 'nope' } });
 * } catch (e) {
 *   if (e instanceof GrpcError && e.code === status.NOT_FOUND) console.log(e.details);
 * }
 * client.$close();
 * ```
 * @param service The service's definition (from @grpc/proto-loader), or a
 *   client class from `loadPackageDefinition` (its `service` is used).
 * @param target A target string (`host:port`, `dns:…`, `unix:…`): the client
 *   creates its own channel, closed by `$close()`. Or a channel to share.
 * @param credentials For a target string; insecure if omitted.
 * @param options Channel options for a target string (grpc-js names).
 * @throws TypeError if `service` is neither a definition nor a class with one.
 */
export function createClient<C extends ServiceConstructorLike<object>>(
  service: C,
  target: string | ChannelInterface,
  credentials?: ChannelCredentials,
  options?: ChannelOptions,
): ModernClient<C['service'], InstanceType<C>>;
export function createClient<S extends object, K = {}>(
  service: S,
  target: string | ChannelInterface,
  credentials?: ChannelCredentials,
  options?: ChannelOptions,
): ModernClient<S, K>;
export function createClient(
  service: object,
  target: string | ChannelInterface,
  credentials?: ChannelCredentials,
  options?: ChannelOptions,
): ModernClient<object> {
  const definition = (
    typeof service === 'function' ? (service as { service?: unknown }).service : service
  ) as Record<string, ModernMethodDefinition<unknown, unknown>> | undefined;
  if (definition === null || typeof definition !== 'object') {
    throw new TypeError('h2grpc: createClient needs a service definition or a client class');
  }
  const owned = typeof target === 'string';
  const channel: ChannelInterface = owned
    ? new Channel(target, credentials ?? ChannelCredentials.createInsecure(), options ?? {})
    : target;
  const client: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(definition)) {
    const method = definition[name];
    // Skips what is not a method (a message type passed by mistake has `format`, `type`…).
    if (isUnsafeName(name) || typeof method?.path !== 'string') continue;
    const fn = methodFor(channel, method);
    client[name] = fn;
    // grpc-js exposes proto-loader's lowerCamel originalName; the types
    // promise the name with a lowercase first letter, which is the same
    // except for names with leading acronyms, so both are added.
    const lower = name.charAt(0).toLowerCase() + name.slice(1);
    for (const alias of [method.originalName, lower]) {
      if (alias && !isUnsafeName(alias) && !(alias in client)) client[alias] = fn;
    }
  }
  Object.defineProperty(client, '$channel', { value: channel, enumerable: false });
  Object.defineProperty(client, '$close', {
    value: owned ? () => channel.close() : () => {},
    enumerable: false,
  });
  return client as ModernClient<object>;
}
