// The receive side of client interceptors: what an interceptor may put
// between the server's responses and the code that made the call. The shapes
// are grpc-js's (call-interface.ts there), so interceptors written for grpc-js
// run unchanged.
import type { Metadata } from '../metadata';
import type { StatusObject } from './call-interface';

/** Sees the response headers; passes them (or others) on by calling `next`. */
export interface MetadataListener {
  (metadata: Metadata, next: (metadata: Metadata) => void): void;
}

/**
 * Sees one deserialized response message; passes it (or another) on by
 * calling `next`. Not calling `next` drops the message.
 */
export interface MessageListener {
  // `any`: the message type depends on the method, as in grpc-js.
  (message: any, next: (message: any) => void): void;
}

/** Sees the final status; passes it (or another) on by calling `next`. */
export interface StatusListener {
  (status: StatusObject, next: (status: StatusObject) => void): void;
}

/** An interceptor's listener with every method given. */
export interface FullListener {
  /** Intercepts the response headers. */
  onReceiveMetadata: MetadataListener;
  /** Intercepts each response message. */
  onReceiveMessage: MessageListener;
  /** Intercepts the final status. */
  onReceiveStatus: StatusListener;
}

/** An interceptor's listener; a missing method passes its event on unchanged. */
export type Listener = Partial<FullListener>;

/**
 * The listener an interceptor is handed in `start`: the rest of the chain up
 * to the code that made the call. Its methods take only the event (no
 * `next`); passing it to `next` unchanged leaves the responses alone.
 */
export interface InterceptingListener {
  /** Delivers the response headers. */
  onReceiveMetadata(metadata: Metadata): void;
  /** Delivers one deserialized response message. */
  onReceiveMessage(message: any): void;
  /** Delivers the final status; the last event of a call. */
  onReceiveStatus(status: StatusObject): void;
}

/**
 * Whether `listener` is the chain's own listener rather than an interceptor's
 * {@link Listener}. grpc-js decides by the arity of `onReceiveMetadata`, so
 * the same objects are told apart the same way here.
 * @internal
 */
export function isInterceptingListener(
  listener: Listener | InterceptingListener,
): listener is InterceptingListener {
  return listener.onReceiveMetadata !== undefined && listener.onReceiveMetadata.length === 1;
}

/**
 * Runs an interceptor's {@link FullListener} in front of the rest of the
 * chain. Events an interceptor holds back (by calling `next` later) keep
 * their order: messages wait for the headers, the status waits for both.
 * @internal
 */
export class InterceptingListenerImpl implements InterceptingListener {
  private processingMetadata = false;
  /**
   * A message was handed to the interceptor and not passed on yet. One flag,
   * as in grpc-js: any message passed on clears it, so an interceptor that
   * drops a message but passes a later one does not hold the status back.
   */
  private processingMessage = false;
  /** Messages passed on while the headers were still held back. */
  private pendingMessages: unknown[] | null = null;
  private pendingStatus: StatusObject | null = null;

  constructor(
    private readonly listener: FullListener,
    private readonly nextListener: InterceptingListener,
  ) {}

  onReceiveMetadata(metadata: Metadata): void {
    this.processingMetadata = true;
    this.listener.onReceiveMetadata(metadata, (finalMetadata) => {
      this.processingMetadata = false;
      this.nextListener.onReceiveMetadata(finalMetadata);
      const pending = this.pendingMessages;
      this.pendingMessages = null;
      if (pending !== null)
        for (const message of pending) this.nextListener.onReceiveMessage(message);
      this.deliverPendingStatus();
    });
  }

  onReceiveMessage(message: unknown): void {
    this.processingMessage = true;
    this.listener.onReceiveMessage(message, (finalMessage) => {
      this.processingMessage = false;
      if (this.processingMetadata) {
        (this.pendingMessages ??= []).push(finalMessage);
      } else {
        this.nextListener.onReceiveMessage(finalMessage);
        this.deliverPendingStatus();
      }
    });
  }

  onReceiveStatus(status: StatusObject): void {
    this.listener.onReceiveStatus(status, (finalStatus) => {
      if (this.processingMetadata || this.processingMessage) {
        this.pendingStatus = finalStatus;
      } else {
        this.nextListener.onReceiveStatus(finalStatus);
      }
    });
  }

  private deliverPendingStatus(): void {
    const status = this.pendingStatus;
    if (status === null || this.processingMetadata || this.processingMessage) return;
    this.pendingStatus = null;
    this.nextListener.onReceiveStatus(status);
  }
}
