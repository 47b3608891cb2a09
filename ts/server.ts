// Server-side exports. h2grpc is a client; its server API is a real
// @grpc/grpc-js installed under the alias `h2grpc-grpc-js-server` (an npm
// alias, so a consumer's `"overrides": {"@grpc/grpc-js": "$h2grpc"}` that makes
// their libraries use this client does not also replace the server).
//
// The delegate is loaded on first use, never at `require('h2grpc')`, so a
// client-only program does not pay for loading grpc-js. Each export is a
// Proxy that forwards to the delegate's export: `new Server()`, static
// methods, `instanceof` and subclassing behave as on grpc-js's own class.
// Reading the export itself must not throw (libraries copy all exports of
// `@grpc/grpc-js` at load time), so a missing delegate surfaces on first use,
// with the reason and the fix in the message, never as `undefined`.

import type * as Delegate from 'h2grpc-grpc-js-server';
import { Metadata, type MetadataOptions, type MetadataValue } from './metadata';

/** The npm alias under which the server implementation is installed. */
const DELEGATE_NAME = 'h2grpc-grpc-js-server';

let delegate: typeof Delegate | undefined;
let loadError: Error | undefined;

/**
 * Returns the @grpc/grpc-js module that implements the server side, loading
 * it on the first call.
 * @throws Error naming why it could not be loaded and how to fix it.
 */
export function loadServerDelegate(): typeof Delegate {
  if (delegate !== undefined) {
    return delegate;
  }
  if (loadError === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const loaded = require(DELEGATE_NAME) as typeof Delegate;
      if (typeof loaded.Server !== 'function') {
        throw new Error(`${DELEGATE_NAME} does not export a Server class; is it @grpc/grpc-js?`);
      }
      delegate = loaded;
      return loaded;
    } catch (e) {
      loadError = new Error(
        'h2grpc is a gRPC client; its server-side exports (Server, ServerCredentials, ...) ' +
          `come from @grpc/grpc-js installed under the npm alias "${DELEGATE_NAME}", ` +
          `which could not be loaded: ${(e as Error).message}. ` +
          `Reinstall h2grpc so its dependency "${DELEGATE_NAME}": "npm:@grpc/grpc-js@^1.14.0" ` +
          'is installed, or import the server from @grpc/grpc-js directly.',
      );
    }
  }
  throw loadError;
}

let serverClass: typeof Delegate.Server | undefined;

/**
 * The delegate's `Server`, subclassed so that handlers see request metadata
 * as an h2grpc `Metadata`. With grpc-js alone a handler's `call.metadata` is
 * an instance of the package's `Metadata`; under the override the package is
 * h2grpc, so the delegate's own Metadata would fail `instanceof Metadata`
 * and, passed on to an h2grpc client call (a gateway forwarding its incoming
 * metadata), would be taken for call options. Adopting it once per server
 * call keeps client calls free of any extra check.
 */
function adaptedServer(): typeof Delegate.Server {
  if (serverClass === undefined) {
    const Base = loadServerDelegate().Server;
    serverClass = class Server extends Base {
      override register<RequestType, ResponseType>(
        name: string,
        handler: Delegate.UntypedHandleCall,
        serialize: Delegate.serialize<ResponseType>,
        deserialize: Delegate.deserialize<RequestType>,
        type: string,
      ): boolean {
        return super.register(name, adoptMetadata(handler), serialize, deserialize, type);
      }
    };
  }
  return serverClass;
}

function adoptMetadata(handler: Delegate.UntypedHandleCall): Delegate.UntypedHandleCall {
  if (typeof handler !== 'function') {
    return handler;
  }
  return function (this: unknown, call: { metadata: unknown }, ...rest: unknown[]) {
    const incoming = call.metadata as {
      internalRepr?: Map<string, MetadataValue[]>;
      getOptions?: () => MetadataOptions;
    };
    if (incoming instanceof loadServerDelegate().Metadata && incoming.internalRepr !== undefined) {
      const md = new Metadata(incoming.getOptions?.());
      // merge reads only internalRepr, which grpc-js's Metadata has too.
      md.merge(incoming as unknown as Metadata);
      call.metadata = md;
    }
    return (handler as (...a: unknown[]) => unknown).call(this, call, ...rest);
  } as Delegate.UntypedHandleCall;
}

/**
 * A stand-in for the delegate's export `name`: every operation on it (call,
 * construct, property access, `instanceof`, `extends`) is forwarded to the
 * real export once loaded.
 */
function lazyExport<K extends keyof typeof Delegate>(name: K): (typeof Delegate)[K] {
  const real = (): object =>
    (name === 'Server' ? adaptedServer() : loadServerDelegate()[name]) as unknown as object;
  // The target is a plain function so that the `apply` and `construct`
  // traps are allowed; its own properties are never exposed.
  const target = function () {} as unknown as object;
  const proxy: object = new Proxy(target, {
    apply: (_t, thisArg, args) => Reflect.apply(real() as () => unknown, thisArg, args),
    construct: (_t, args, newTarget) => {
      const ctor = real() as new (...a: unknown[]) => object;
      return Reflect.construct(ctor, args, newTarget === proxy ? ctor : newTarget);
    },
    get: (_t, key) => Reflect.get(real(), key),
    set: (_t, key, value) => Reflect.set(real(), key, value),
    has: (_t, key) => Reflect.has(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    ownKeys: () => {
      // A Proxy must report the target's non-configurable own keys
      // (`prototype` of a plain function), whatever the real export has.
      const keys = new Set<string | symbol>(Reflect.ownKeys(real()));
      for (const key of Reflect.ownKeys(target)) {
        if (!Reflect.getOwnPropertyDescriptor(target, key)?.configurable) {
          keys.add(key);
        }
      }
      return [...keys];
    },
    getOwnPropertyDescriptor: (_t, key) => {
      const own = Reflect.getOwnPropertyDescriptor(target, key);
      if (own !== undefined && !own.configurable) {
        // `prototype`: writable, so the real one may be reported in its place.
        return { ...own, value: Reflect.get(real(), key) };
      }
      const desc = Reflect.getOwnPropertyDescriptor(real(), key);
      return desc === undefined ? undefined : { ...desc, configurable: true };
    },
  });
  return proxy as (typeof Delegate)[K];
}

/** grpc-js's `Server`, from the delegate package; see the README's "Servers" section. */
export const Server: typeof Delegate.Server = lazyExport('Server');
/** Instance type of {@link Server} (a class in grpc-js, so usable as a type too). */
export type Server = Delegate.Server;
/** grpc-js's `ServerCredentials` (insecure, SSL), from the delegate package. */
export const ServerCredentials: typeof Delegate.ServerCredentials = lazyExport('ServerCredentials');
/** Instance type of {@link ServerCredentials} (a class in grpc-js, so usable as a type too). */
export type ServerCredentials = Delegate.ServerCredentials;
/** grpc-js's server interceptor call, from the delegate package. */
export const ServerInterceptingCall: typeof Delegate.ServerInterceptingCall =
  lazyExport('ServerInterceptingCall');
/** Instance type of {@link ServerInterceptingCall} (a class in grpc-js, so usable as a type too). */
export type ServerInterceptingCall = Delegate.ServerInterceptingCall;
/** grpc-js's builder for server interceptor responders, from the delegate package. */
export const ResponderBuilder: typeof Delegate.ResponderBuilder = lazyExport('ResponderBuilder');
/** Instance type of {@link ResponderBuilder} (a class in grpc-js, so usable as a type too). */
export type ResponderBuilder = Delegate.ResponderBuilder;
/** grpc-js's builder for server interceptor listeners, from the delegate package. */
export const ServerListenerBuilder: typeof Delegate.ServerListenerBuilder =
  lazyExport('ServerListenerBuilder');
/** Instance type of {@link ServerListenerBuilder} (a class in grpc-js, so usable as a type too). */
export type ServerListenerBuilder = Delegate.ServerListenerBuilder;
/** grpc-js's `addAdminServicesToServer` (channelz etc.), from the delegate package. */
export const addAdminServicesToServer: typeof Delegate.addAdminServicesToServer = lazyExport(
  'addAdminServicesToServer',
);
/** grpc-js's channelz service definition, from the delegate package. */
export const getChannelzServiceDefinition: typeof Delegate.getChannelzServiceDefinition =
  lazyExport('getChannelzServiceDefinition');
/** grpc-js's channelz handlers, from the delegate package. */
export const getChannelzHandlers: typeof Delegate.getChannelzHandlers =
  lazyExport('getChannelzHandlers');
/** grpc-js's ORCA `ServerMetricRecorder`, from the delegate package. */
export const ServerMetricRecorder: typeof Delegate.ServerMetricRecorder =
  lazyExport('ServerMetricRecorder');
/** Instance type of {@link ServerMetricRecorder} (a class in grpc-js, so usable as a type too). */
export type ServerMetricRecorder = Delegate.ServerMetricRecorder;

/** grpc-js's `experimental.createServerCredentialsWithInterceptors`, from the delegate package. */
export const createServerCredentialsWithInterceptors: typeof Delegate.experimental.createServerCredentialsWithInterceptors =
  lazyExperimental('createServerCredentialsWithInterceptors');
/** grpc-js's `experimental.createCertificateProviderServerCredentials`, from the delegate package. */
export const createCertificateProviderServerCredentials: typeof Delegate.experimental.createCertificateProviderServerCredentials =
  lazyExperimental('createCertificateProviderServerCredentials');
/** grpc-js's `experimental.registerAdminService`, from the delegate package. */
export const registerAdminService: typeof Delegate.experimental.registerAdminService =
  lazyExperimental('registerAdminService');

// Functions of the delegate's `experimental` namespace: plain forwarding
// functions suffice, since none of them is a class.
function lazyExperimental<K extends keyof typeof Delegate.experimental>(
  name: K,
): (typeof Delegate.experimental)[K] {
  return ((...args: unknown[]) =>
    (loadServerDelegate().experimental[name] as (...a: unknown[]) => unknown)(
      ...args,
    )) as unknown as (typeof Delegate.experimental)[K];
}

export type {
  ConnectionInjector,
  FullResponder,
  FullServerListener,
  KeyCertPair,
  Responder,
  ServerDuplexStream,
  ServerErrorResponse,
  ServerInterceptingCallInterface,
  ServerInterceptor,
  ServerListener,
  ServerOptions,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedHandleCall,
  UntypedServiceImplementation,
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
} from 'h2grpc-grpc-js-server';
