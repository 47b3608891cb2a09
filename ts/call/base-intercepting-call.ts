// The bottom of an interceptor chain (grpc-js's BaseInterceptingCall and its
// unary/streaming variants in one class): owns the transport call, serializes
// outgoing messages and deserializes incoming ones, so every interceptor
// above deals in message objects.
//
// Like the call objects without interceptors, it lets the transport start a
// unary RPC in one step: the start is held until the first message and the
// half-close arrive (in the same turn, as they do when the interceptors pass
// them straight on), or until a microtask later at the latest.
import { Status } from '../constants';
import type { ClientMethodDefinition } from '../make-client';
import { Metadata } from '../metadata';
import type { Call, CallListener, StartOptions, StatusObject } from './call-interface';
import { parseFailure, serializationFailure } from './client-calls';
import type { InterceptingCallInterface, MessageContext } from './client-interceptors';
import type { InterceptingListener } from './intercepting-listener';

/**
 * The link below the last interceptor: bytes on the transport side, message
 * objects above.
 * @internal
 */
export class BaseInterceptingCall implements InterceptingCallInterface, CallListener {
  private listener: Partial<InterceptingListener> | undefined = undefined;
  /** Start metadata not handed to the transport yet; null once it has been (or before start). */
  private heldMetadata: Metadata | null = null;
  /** The first message, held to travel with the start. */
  private heldMessage: Buffer | undefined = undefined;
  private readError: StatusObject | null = null;
  private receivedMessage = false;
  private started = false;
  /** A cancellation that came before the start; the start then only reports it. */
  private cancelledBeforeStart: StatusObject | null = null;
  private readonly unaryResponse: boolean;

  constructor(
    private readonly call: Call,
    private readonly methodDefinition: ClientMethodDefinition<any, any>,
  ) {
    this.unaryResponse = !methodDefinition.responseStream;
  }

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    // Thrown here, to the interceptor at fault: the transport call would
    // throw too, but from the microtask below, where nobody can catch it.
    if (this.started) throw new Error('h2grpc: call already started');
    this.started = true;
    this.listener = listener;
    const cancelled = this.cancelledBeforeStart;
    if (cancelled !== null) {
      // grpc-js loses this status when the start comes a tick or more after
      // the cancellation, and the call never ends; here it always arrives.
      process.nextTick(() => this.onReceiveStatus(cancelled));
      return;
    }
    this.heldMetadata = metadata;
    // A streaming call whose first message comes later must not wait for it.
    queueMicrotask(() => this.release());
  }

  sendMessageWithContext(context: MessageContext, message: any): void {
    let serialized: Buffer;
    try {
      serialized = this.methodDefinition.requestSerialize(message);
    } catch (error) {
      this.release();
      this.call.cancelWithStatus(Status.INTERNAL, serializationFailure(error));
      // The failure is reported once, as the status; a writer must not hang.
      context.callback?.();
      return;
    }
    // A message with a write callback is a stream write: it goes at once,
    // so that its callback reports the transport taking it.
    if (
      this.heldMetadata !== null &&
      this.heldMessage === undefined &&
      context.callback === undefined
    ) {
      this.heldMessage = serialized;
      return;
    }
    this.release();
    this.call.sendMessage(serialized, context.callback);
  }

  sendMessage(message: any): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    if (this.heldMetadata !== null) {
      this.release(true);
      return;
    }
    this.call.halfClose();
  }

  cancelWithStatus(status: Status, details: string): void {
    if (!this.started) {
      // An interceptor still holds the start (or never passes it on).
      this.cancelledBeforeStart ??= { code: status, details, metadata: new Metadata() };
      this.call.cancelWithStatus(status, details);
      return;
    }
    // Started first, so the status reaches the listener.
    this.release();
    this.call.cancelWithStatus(status, details);
  }

  getPeer(): string {
    return this.call.getPeer() || 'unknown';
  }

  /** grpc-js's read protocol: each `startRead` lets messages flow on (see `onReceiveMessage`). */
  startRead(): void {
    this.call.resumeRead();
  }

  /** Hands the held start (with the held message, and the half-close if given) to the transport. */
  private release(halfClose = false): void {
    const metadata = this.heldMetadata;
    if (metadata === null) return;
    this.heldMetadata = null;
    const message = this.heldMessage;
    this.heldMessage = undefined;
    const options: StartOptions | undefined =
      message !== undefined || halfClose ? { message, halfClose } : undefined;
    this.call.start(metadata, this, options);
  }

  // CallListener: what the transport reports.

  onReceiveMetadata(metadata: Metadata): void {
    this.listener?.onReceiveMetadata?.(metadata);
  }

  onReceiveMessage(message: Buffer): void {
    if (this.readError !== null) return;
    let deserialized: unknown;
    try {
      deserialized = this.methodDefinition.responseDeserialize(message);
    } catch (error) {
      // Recorded before cancelling: the transport may report the status
      // from inside cancelWithStatus.
      this.readError = {
        code: Status.INTERNAL,
        details: parseFailure(error),
        metadata: new Metadata(),
      };
      this.call.cancelWithStatus(this.readError.code, this.readError.details);
      return;
    }
    this.receivedMessage = true;
    // As in grpc-js, a message delivered up the chain waits for the next
    // `startRead` (from the top, once the user's stream has room) before the
    // ones after it count as read: interceptors that hold messages, and slow
    // readers, push back on the server.
    this.call.pauseRead();
    this.listener?.onReceiveMessage?.(deserialized);
  }

  onReceiveStatus(status: StatusObject): void {
    // grpc-js tells a unary-response chain "no message" with a null message
    // before the status; interceptors (such as its retry example) rely on it.
    if (this.unaryResponse && !this.receivedMessage) this.listener?.onReceiveMessage?.(null);
    this.listener?.onReceiveStatus?.(this.readError ?? status);
  }
}
