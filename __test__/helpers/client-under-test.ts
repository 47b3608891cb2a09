// Selects the client library the integration tests run against and builds the
// TestService client constructor with that library's own loadPackageDefinition.
//
//   H2GRPC_TEST_CLIENT=grpc-js  -> @grpc/grpc-js (validates the tests themselves)
//   anything else (default)     -> h2grpc (ts/index.ts)
//
// The tests only use the @grpc/grpc-js client API, so the grpc-js types describe both.
import type * as GrpcJs from '@grpc/grpc-js';
import { loadTestProto } from './interop-server';
import type {
  SimpleRequest,
  SimpleResponse,
  StreamingInputCallRequest,
  StreamingInputCallResponse,
  StreamingOutputCallRequest,
  StreamingOutputCallResponse,
} from './interop-server';

export type GrpcModule = typeof GrpcJs;

export type ClientName = 'h2grpc' | 'grpc-js';

export const clientName: ClientName =
  process.env.H2GRPC_TEST_CLIENT === 'grpc-js' ? 'grpc-js' : 'h2grpc';

/** True when the tests run against @grpc/grpc-js (used to mark known grpc-js deviations). */
export const isGrpcJs = clientName === 'grpc-js';

/** The client library under test, loaded lazily. */
export function getClientModule(): GrpcModule {
  return clientName === 'grpc-js' ? require('@grpc/grpc-js') : require('../../ts/index');
}

type Callback<T> = (err: GrpcJs.ServiceError | null, value?: T) => void;

/** The TestService client surface used by the tests (the grpc-js generic client shape). */
export interface TestServiceClient extends GrpcJs.Client {
  EmptyCall(
    req: object,
    md: GrpcJs.Metadata,
    opts: GrpcJs.CallOptions,
    cb: Callback<object>,
  ): GrpcJs.ClientUnaryCall;
  UnaryCall(
    req: SimpleRequest,
    md: GrpcJs.Metadata,
    opts: GrpcJs.CallOptions,
    cb: Callback<SimpleResponse>,
  ): GrpcJs.ClientUnaryCall;
  UnimplementedCall(
    req: object,
    md: GrpcJs.Metadata,
    opts: GrpcJs.CallOptions,
    cb: Callback<object>,
  ): GrpcJs.ClientUnaryCall;
  StreamingOutputCall(
    req: StreamingOutputCallRequest,
    md: GrpcJs.Metadata,
    opts?: GrpcJs.CallOptions,
  ): GrpcJs.ClientReadableStream<StreamingOutputCallResponse>;
  StreamingInputCall(
    md: GrpcJs.Metadata,
    opts: GrpcJs.CallOptions,
    cb: Callback<StreamingInputCallResponse>,
  ): GrpcJs.ClientWritableStream<StreamingInputCallRequest>;
  FullDuplexCall(
    md: GrpcJs.Metadata,
    opts?: GrpcJs.CallOptions,
  ): GrpcJs.ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;
  HalfDuplexCall(
    md: GrpcJs.Metadata,
    opts?: GrpcJs.CallOptions,
  ): GrpcJs.ClientDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>;
}

export type TestServiceClientConstructor = new (
  address: string,
  credentials: GrpcJs.ChannelCredentials,
  options?: GrpcJs.ClientOptions,
) => TestServiceClient;

/** `grpc.testing.TestService` client constructor, made by `grpcModule.loadPackageDefinition`. */
export function loadTestService(grpcModule: GrpcModule): TestServiceClientConstructor {
  const pkg = grpcModule.loadPackageDefinition(loadTestProto()) as unknown as {
    grpc: { testing: { TestService: TestServiceClientConstructor } };
  };
  return pkg.grpc.testing.TestService;
}
