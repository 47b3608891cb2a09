// Original file: examples/modern.proto

import type * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type {
  EchoReply as _modern_example_EchoReply,
  EchoReply__Output as _modern_example_EchoReply__Output,
} from '../../modern/example/EchoReply';
import type {
  EchoRequest as _modern_example_EchoRequest,
  EchoRequest__Output as _modern_example_EchoRequest__Output,
} from '../../modern/example/EchoRequest';

export interface EchoClient extends grpc.Client {
  Chat(
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<_modern_example_EchoRequest, _modern_example_EchoReply__Output>;
  Chat(
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<_modern_example_EchoRequest, _modern_example_EchoReply__Output>;
  chat(
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<_modern_example_EchoRequest, _modern_example_EchoReply__Output>;
  chat(
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<_modern_example_EchoRequest, _modern_example_EchoReply__Output>;

  Collect(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  Collect(
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  Collect(
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  Collect(
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  collect(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  collect(
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  collect(
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;
  collect(
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientWritableStream<_modern_example_EchoRequest>;

  Countdown(
    argument: _modern_example_EchoRequest,
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<_modern_example_EchoReply__Output>;
  Countdown(
    argument: _modern_example_EchoRequest,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<_modern_example_EchoReply__Output>;
  countdown(
    argument: _modern_example_EchoRequest,
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<_modern_example_EchoReply__Output>;
  countdown(
    argument: _modern_example_EchoRequest,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<_modern_example_EchoReply__Output>;

  Say(
    argument: _modern_example_EchoRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  Say(
    argument: _modern_example_EchoRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  Say(
    argument: _modern_example_EchoRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  Say(
    argument: _modern_example_EchoRequest,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  say(
    argument: _modern_example_EchoRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  say(
    argument: _modern_example_EchoRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  say(
    argument: _modern_example_EchoRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
  say(
    argument: _modern_example_EchoRequest,
    callback: grpc.requestCallback<_modern_example_EchoReply__Output>,
  ): grpc.ClientUnaryCall;
}

export interface EchoHandlers extends grpc.UntypedServiceImplementation {
  Chat: grpc.handleBidiStreamingCall<
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply
  >;

  Collect: grpc.handleClientStreamingCall<
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply
  >;

  Countdown: grpc.handleServerStreamingCall<
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply
  >;

  Say: grpc.handleUnaryCall<_modern_example_EchoRequest__Output, _modern_example_EchoReply>;
}

export interface EchoDefinition extends grpc.ServiceDefinition {
  Chat: MethodDefinition<
    _modern_example_EchoRequest,
    _modern_example_EchoReply,
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply__Output
  >;
  Collect: MethodDefinition<
    _modern_example_EchoRequest,
    _modern_example_EchoReply,
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply__Output
  >;
  Countdown: MethodDefinition<
    _modern_example_EchoRequest,
    _modern_example_EchoReply,
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply__Output
  >;
  Say: MethodDefinition<
    _modern_example_EchoRequest,
    _modern_example_EchoReply,
    _modern_example_EchoRequest__Output,
    _modern_example_EchoReply__Output
  >;
}
