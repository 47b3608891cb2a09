// Service clients from service definitions, as @grpc/proto-loader produces
// them: one class per service, one method per RPC, dispatching to the
// Client request method that matches the RPC's streaming shape.
import { Client, type ClientOptions } from './client';
import type { ChannelCredentials } from './credentials';

/** Turns a message into bytes. */
export type Serialize<T> = (value: T) => Buffer;

/** Turns bytes into a message. */
export type Deserialize<T> = (bytes: Buffer) => T;

/** What a client needs to know about one RPC. */
export interface ClientMethodDefinition<RequestType, ResponseType> {
  /** Full method path, e.g. `/pkg.Service/Method`. */
  path: string;
  /** Whether the client sends a stream of requests. */
  requestStream: boolean;
  /** Whether the server sends a stream of responses. */
  responseStream: boolean;
  /** Turns a request into bytes. */
  requestSerialize: Serialize<RequestType>;
  /** Turns response bytes into a value. */
  responseDeserialize: Deserialize<ResponseType>;
  /** The method's name as written in the .proto file, if the key differs from it. */
  originalName?: string;
}

/** What a server needs to know about one RPC; part of a {@link MethodDefinition}. */
export interface ServerMethodDefinition<RequestType, ResponseType> {
  /** Full method path, e.g. `/pkg.Service/Method`. */
  path: string;
  /** Whether the client sends a stream of requests. */
  requestStream: boolean;
  /** Whether the server sends a stream of responses. */
  responseStream: boolean;
  /** Turns a response into bytes. */
  responseSerialize: Serialize<ResponseType>;
  /** Turns request bytes into a value. */
  requestDeserialize: Deserialize<RequestType>;
  /** The method's name as written in the .proto file, if the key differs from it. */
  originalName?: string;
}

/** One RPC of a service, as @grpc/proto-loader describes it. */
export interface MethodDefinition<RequestType, ResponseType>
  extends
    ClientMethodDefinition<RequestType, ResponseType>,
    ServerMethodDefinition<RequestType, ResponseType> {}

/** A service: its RPCs by method name. */
export type ServiceDefinition<ImplementationType = Record<string, unknown>> = {
  // `any`: each method has its own message types, and a definition with
  // specific ones must still fit (a serializer of T is not one of unknown).
  readonly [index in keyof ImplementationType]: MethodDefinition<any, any>;
};

/** A message or enum type in a package definition (not a service). */
export interface ProtobufTypeDefinition {
  /** The descriptor format, e.g. `Protocol Buffer 3 DescriptorProto`. */
  format: string;
  /** The type's descriptor. */
  type: object;
  /** Serialized FileDescriptorProtos of the file defining the type and its dependencies. */
  fileDescriptorProtos: Buffer[];
}

/** Services and types by fully qualified name, as @grpc/proto-loader's `load` returns. */
export interface PackageDefinition {
  [index: string]: ServiceDefinition | ProtobufTypeDefinition;
}

/** An instance of a class made by {@link makeClientConstructor}: a Client plus one method per RPC. */
export interface ServiceClient extends Client {
  // Methods are added at run time from the definition, so they cannot be
  // typed more precisely than this.
  [methodName: string]: (...args: any[]) => any;
}

/** A class made by {@link makeClientConstructor}. */
export interface ServiceClientConstructor {
  new (address: string, credentials: ChannelCredentials, options?: ClientOptions): ServiceClient;
  /** The definition the class was made from. */
  service: ServiceDefinition;
  /** The name it was made with (the unqualified service name when loaded from a package). */
  serviceName: string;
}

/** Nested packages of service client classes and message types, by name. */
export interface GrpcObject {
  [index: string]: GrpcObject | ServiceClientConstructor | ProtobufTypeDefinition;
}

// Names that must not become properties, or loading a crafted definition
// could replace an object's prototype or constructor.
function isUnsafeName(name: string): boolean {
  return name === '__proto__' || name === 'prototype' || name === 'constructor';
}

// Fixed arity instead of rest parameters: a generated method runs on every
// call, and this way it allocates nothing. The Client methods sort out which
// optional arguments were given, so passing trailing undefineds is fine.
type RequestMaker = (
  this: Client,
  path: string,
  serialize: Serialize<unknown>,
  deserialize: Deserialize<unknown>,
  a?: unknown,
  b?: unknown,
  c?: unknown,
  d?: unknown,
) => unknown;

function requestMakerFor(definition: ClientMethodDefinition<unknown, unknown>): RequestMaker {
  const proto = Client.prototype;
  const maker = definition.requestStream
    ? definition.responseStream
      ? proto.makeBidiStreamRequest
      : proto.makeClientStreamRequest
    : definition.responseStream
      ? proto.makeServerStreamRequest
      : proto.makeUnaryRequest;
  return maker as unknown as RequestMaker;
}

function methodFor(
  definition: ClientMethodDefinition<unknown, unknown>,
): (this: Client, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => unknown {
  const maker = requestMakerFor(definition);
  const { path, requestSerialize, responseDeserialize } = definition;
  return function (this: Client, a, b, c, d) {
    return maker.call(this, path, requestSerialize, responseDeserialize, a, b, c, d);
  };
}

/**
 * Creates a client class for a service: a subclass of {@link Client} with
 * one method per RPC (also under its `originalName`, if given), taking the
 * same arguments as the matching `make*Request` method minus the path and
 * (de)serializers.
 * @param methods The service's RPCs by method name.
 * @param serviceName The name to record as the class's `serviceName`.
 * @param classOptions Unused; accepted for compatibility with grpc-js.
 * @throws Error if a method name starts with `$`.
 */
export function makeClientConstructor(
  methods: ServiceDefinition,
  serviceName: string,
  classOptions?: object,
): ServiceClientConstructor {
  class ServiceClientImpl extends Client {
    static service: ServiceDefinition;
    static serviceName: string;
  }
  const prototype = ServiceClientImpl.prototype as unknown as Record<string, unknown>;
  for (const name of Object.keys(methods)) {
    if (isUnsafeName(name)) {
      continue;
    }
    if (name.startsWith('$')) {
      throw new Error('Method names cannot start with $');
    }
    const definition = methods[name];
    // Generated code and tools read the definition back off the method.
    const method = Object.assign(methodFor(definition), definition);
    prototype[name] = method;
    if (definition.originalName && !isUnsafeName(definition.originalName)) {
      prototype[definition.originalName] = method;
    }
  }
  ServiceClientImpl.service = methods;
  ServiceClientImpl.serviceName = serviceName;
  return ServiceClientImpl as unknown as ServiceClientConstructor;
}

function isProtobufTypeDefinition(
  definition: ServiceDefinition | ProtobufTypeDefinition,
): definition is ProtobufTypeDefinition {
  return 'format' in definition;
}

/**
 * Turns a package definition (from @grpc/proto-loader) into nested objects
 * by package name, with a client class for each service and the type
 * definitions as they are: `pkg.sub.Service` becomes
 * `result.pkg.sub.Service`.
 * @param packageDef Services and types by fully qualified name.
 */
export function loadPackageDefinition(packageDef: PackageDefinition): GrpcObject {
  const result: GrpcObject = {};
  for (const fullName of Object.keys(packageDef)) {
    const parts = fullName.split('.');
    if (parts.some(isUnsafeName)) {
      continue;
    }
    const name = parts[parts.length - 1];
    let current = result;
    for (const packageName of parts.slice(0, -1)) {
      if (!current[packageName]) {
        current[packageName] = {};
      }
      current = current[packageName] as GrpcObject;
    }
    const definition = packageDef[fullName];
    current[name] = isProtobufTypeDefinition(definition)
      ? definition
      : makeClientConstructor(definition, name, {});
  }
  return result;
}
