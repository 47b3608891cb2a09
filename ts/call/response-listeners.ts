// What the transport reports about a call, turned into what users see:
// a callback for single-response calls, stream events for streaming ones.
// One listener object per call with its state in fields, so the hot path
// allocates no closures.
import type { EventEmitter } from 'events';
import { Status } from '../constants';
import { Metadata } from '../metadata';
import type { Call, CallListener, StatusObject } from './call-interface';
import {
  callErrorFromStatus,
  parseFailure,
  type ResponseStream,
  type UnaryCallback,
} from './client-calls';
import type { InterceptingCallInterface } from './client-interceptors';
import type { InterceptingListener } from './intercepting-listener';

// The first line of a stack is the error's message; the rest are the frames
// of the code that made the call, which is what a ServiceError should show.
function callerFrames(error: Error | null): string {
  return (
    error?.stack?.split('\n').slice(1).join('\n') ||
    '(call site not captured for unary calls; set H2GRPC_CALLER_STACKS=1 to capture it)'
  );
}

// grpc-js reports a response that cannot be parsed with this status in place
// of the status the call then ends with.
function parseFailureStatus(error: unknown): StatusObject {
  return { code: Status.INTERNAL, details: parseFailure(error), metadata: new Metadata() };
}

/**
 * Ends a streaming call object as grpc-js does: end of data, then `'error'`
 * (non-OK only), then `'status'`; `'end'` itself follows asynchronously once
 * the data is consumed. A stream the user destroyed gets no `'error'`: the
 * CANCELLED it caused is no news to them, and nobody may be listening.
 */
function endStream(stream: ResponseStream, status: StatusObject, callerStack: Error | null): void {
  stream.statusReceived = true;
  stream.push(null);
  if (status.code !== Status.OK && !stream.destroyed) {
    stream.emit('error', callErrorFromStatus(status, callerFrames(callerStack)));
  }
  stream.emit('status', status);
}

/**
 * Ends a unary or client-streaming call as grpc-js does: the callback gets
 * the error (non-OK), the response, or UNIMPLEMENTED "No message received"
 * when an OK status came without one; then `'status'` is emitted.
 */
function endUnary<ResponseType>(
  emitter: EventEmitter,
  callback: UnaryCallback<ResponseType>,
  status: StatusObject,
  received: boolean,
  response: ResponseType | undefined,
  callerStack: Error | null,
): void {
  if (status.code !== Status.OK) {
    callback(callErrorFromStatus(status, callerFrames(callerStack)));
  } else if (received) {
    callback(null, response);
  } else {
    const missing: StatusObject = {
      code: Status.UNIMPLEMENTED,
      details: 'No message received',
      metadata: status.metadata,
    };
    callback(callErrorFromStatus(missing, callerFrames(callerStack)));
  }
  emitter.emit('status', status);
}

/**
 * Delivers a unary or client-streaming call's response to its callback, then
 * emits `'status'` on the call object.
 * @internal
 */
export class UnaryResponseListener<ResponseType> implements CallListener {
  private response: ResponseType | undefined = undefined;
  private received = false;
  private readError: StatusObject | null = null;
  private done = false;

  /**
   * @param callerStack Created where the user made the call, for the stack of
   *   a ServiceError; dropped once the call ends.
   */
  constructor(
    private readonly emitter: EventEmitter,
    private readonly call: Call,
    private readonly deserialize: (bytes: Buffer) => ResponseType,
    private readonly callback: UnaryCallback<ResponseType>,
    private callerStack: Error | null,
  ) {}

  onReceiveMetadata(metadata: Metadata): void {
    this.emitter.emit('metadata', metadata);
  }

  onReceiveMessage(message: Buffer): void {
    // One response is all there is: it is never reported read, so a unary
    // call costs no read acknowledgement (no extra native call); its bytes
    // go back to the window when the stream ends.
    this.call.pauseRead();
    if (this.done || this.readError !== null) {
      return;
    }
    if (this.received) {
      this.call.cancelWithStatus(Status.UNIMPLEMENTED, 'Too many responses received');
      return;
    }
    try {
      this.response = this.deserialize(message);
    } catch (error) {
      // Recorded before cancelling: the transport may report the status
      // from inside cancelWithStatus.
      this.readError = parseFailureStatus(error);
      this.call.cancelWithStatus(this.readError.code, this.readError.details);
      return;
    }
    this.received = true;
  }

  onReceiveStatus(status: StatusObject): void {
    if (this.done) {
      return;
    }
    this.done = true;
    if (this.readError !== null) {
      status = this.readError;
    }
    endUnary(this.emitter, this.callback, status, this.received, this.response, this.callerStack);
    // Not retained past the end of the call: it pins the caller's frames.
    this.callerStack = null;
  }
}

/**
 * Pushes a server-streaming or bidi call's responses into its Readable side,
 * then ends it, emitting `'error'` first if the status is not OK.
 * @internal
 */
export class StreamResponseListener<ResponseType> implements CallListener {
  private readError: StatusObject | null = null;
  private done = false;

  /**
   * @param callerStack Created where the user made the call, for the stack of
   *   a ServiceError; dropped once the call ends.
   */
  constructor(
    private readonly stream: ResponseStream,
    private readonly call: Call,
    private readonly deserialize: (bytes: Buffer) => ResponseType,
    private callerStack: Error | null,
  ) {}

  onReceiveMetadata(metadata: Metadata): void {
    this.stream.emit('metadata', metadata);
  }

  onReceiveMessage(message: Buffer): void {
    if (this.done || this.readError !== null) {
      return;
    }
    let value: ResponseType;
    try {
      value = this.deserialize(message);
    } catch (error) {
      // Recorded before cancelling: the transport may report the status
      // from inside cancelWithStatus.
      this.readError = parseFailureStatus(error);
      this.call.cancelWithStatus(this.readError.code, this.readError.details);
      return;
    }
    // Receive backpressure, as grpc-js pauses its HTTP/2 stream: once the
    // Readable's buffer is full, what arrives counts as unread (its bytes stay
    // out of the server's window) until `_read` asks for more.
    if (!this.stream.push(value)) this.call.pauseRead();
  }

  onReceiveStatus(status: StatusObject): void {
    if (this.done) {
      return;
    }
    this.done = true;
    if (this.readError !== null) {
      status = this.readError;
    }
    endStream(this.stream, status, this.callerStack);
    this.callerStack = null;
  }
}

/**
 * The top of an interceptor chain for a unary or client-streaming call:
 * receives the response after the interceptors (deserialized already) and
 * delivers it to the callback, as grpc-js does for intercepted calls. A
 * `null` message means none: the chain's bottom reports one that way.
 * @internal
 */
export class InterceptedUnaryListener<ResponseType> implements InterceptingListener {
  private response: ResponseType | null = null;
  private done = false;

  /**
   * @param call The outermost interceptor, for cancelling on a second response.
   * @param callerStack Created where the user made the call, for the stack of
   *   a ServiceError; dropped once the call ends.
   */
  constructor(
    private readonly emitter: EventEmitter,
    private readonly call: InterceptingCallInterface,
    private readonly callback: UnaryCallback<ResponseType>,
    private callerStack: Error | null,
  ) {}

  onReceiveMetadata(metadata: Metadata): void {
    this.emitter.emit('metadata', metadata);
  }

  onReceiveMessage(message: ResponseType | null): void {
    if (this.response !== null) {
      this.call.cancelWithStatus(Status.UNIMPLEMENTED, 'Too many responses received');
    }
    this.response = message;
  }

  onReceiveStatus(status: StatusObject): void {
    if (this.done) {
      return;
    }
    this.done = true;
    const response = this.response;
    // An interceptor's null means no message (see the chain's bottom).
    const received = response !== null;
    endUnary(
      this.emitter,
      this.callback,
      status,
      received,
      response ?? undefined,
      this.callerStack,
    );
    this.callerStack = null;
  }
}

/**
 * The top of an interceptor chain for a server-streaming or bidi call:
 * pushes the responses the interceptors pass on into the Readable side.
 * @internal
 */
export class InterceptedStreamListener implements InterceptingListener {
  private done = false;

  /**
   * @param callerStack Created where the user made the call, for the stack of
   *   a ServiceError; dropped once the call ends.
   */
  /**
   * @param chain The outermost interceptor, asked for more messages (grpc-js's
   *   `startRead`) while the Readable's buffer has room.
   */
  constructor(
    private readonly stream: ResponseStream,
    private readonly chain: InterceptingCallInterface,
    private callerStack: Error | null,
  ) {}

  onReceiveMetadata(metadata: Metadata): void {
    this.stream.emit('metadata', metadata);
  }

  onReceiveMessage(message: unknown): void {
    // The chain's bottom pauses reading with every message it delivers;
    // reading goes on while the Readable takes more (grpc-js's protocol).
    if (this.stream.push(message)) this.chain.startRead();
  }

  onReceiveStatus(status: StatusObject): void {
    if (this.done) {
      return;
    }
    this.done = true;
    endStream(this.stream, status, this.callerStack);
    this.callerStack = null;
  }
}
