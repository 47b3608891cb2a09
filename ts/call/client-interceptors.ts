// Client interceptors, with grpc-js's API and semantics: an interceptor wraps
// the rest of the chain in an InterceptingCall whose requester sees what the
// caller sends (metadata, messages, half-close, cancel) and whose listener
// sees what the server answers. The chain's bottom (base-intercepting-call.ts)
// serializes and deserializes, so interceptors deal in message objects.
import type { ChannelInterface } from '../channel-interface';
import type { CallOptions } from '../client';
import type { Status } from '../constants';
import type { ClientMethodDefinition } from '../make-client';
import type { Metadata } from '../metadata';
import { BaseInterceptingCall } from './base-intercepting-call';
import type { Call } from './call-interface';
import {
  InterceptingListenerImpl,
  isInterceptingListener,
  type FullListener,
  type InterceptingListener,
  type Listener,
  type MessageListener,
  type MetadataListener,
  type StatusListener,
} from './intercepting-listener';

/**
 * Thrown when both `interceptors` and `interceptor_providers` are given in
 * the same call's options (grpc-js's error, with grpc-js's message).
 */
export class InterceptorConfigurationError extends Error {
  /** @param message What was configured wrongly. */
  constructor(message: string) {
    super(message);
    this.name = 'InterceptorConfigurationError';
    Error.captureStackTrace(this, InterceptorConfigurationError);
  }
}

/**
 * Intercepts the start of a call: may change the metadata, wrap or replace
 * the listener, and passes both on with `next`. Not calling `next` holds the
 * call: nothing reaches the server until it is called.
 */
export interface MetadataRequester {
  (
    metadata: Metadata,
    listener: InterceptingListener,
    next: (metadata: Metadata, listener: InterceptingListener | Listener) => void,
  ): void;
}

/** Intercepts one outgoing message (not serialized yet); passes it, or another, on with `next`. */
export interface MessageRequester {
  // `any`: the message type depends on the method, as in grpc-js.
  (message: any, next: (message: any) => void): void;
}

/** Intercepts the half-close (no more messages); `next` passes it on. */
export interface CloseRequester {
  (next: () => void): void;
}

/** Intercepts a cancellation; `next` passes it on, not calling it ignores the cancellation. */
export interface CancelRequester {
  (next: () => void): void;
}

/** An interceptor's requester with every method given. */
export interface FullRequester {
  /** Intercepts the start of the call. */
  start: MetadataRequester;
  /** Intercepts each outgoing message. */
  sendMessage: MessageRequester;
  /** Intercepts the half-close. */
  halfClose: CloseRequester;
  /** Intercepts a cancellation. */
  cancel: CancelRequester;
}

/** An interceptor's requester; a missing method passes its operation on unchanged. */
export type Requester = Partial<FullRequester>;

/** Builds a {@link Listener} one method at a time. */
export class ListenerBuilder {
  private metadata: MetadataListener | undefined = undefined;
  private message: MessageListener | undefined = undefined;
  private status: StatusListener | undefined = undefined;

  /** Sets the listener's `onReceiveMetadata`. */
  withOnReceiveMetadata(onReceiveMetadata: MetadataListener): this {
    this.metadata = onReceiveMetadata;
    return this;
  }

  /** Sets the listener's `onReceiveMessage`. */
  withOnReceiveMessage(onReceiveMessage: MessageListener): this {
    this.message = onReceiveMessage;
    return this;
  }

  /** Sets the listener's `onReceiveStatus`. */
  withOnReceiveStatus(onReceiveStatus: StatusListener): this {
    this.status = onReceiveStatus;
    return this;
  }

  /** The listener; methods not set are `undefined` and pass their events on. */
  build(): Listener {
    return {
      onReceiveMetadata: this.metadata,
      onReceiveMessage: this.message,
      onReceiveStatus: this.status,
    };
  }
}

/** Builds a {@link Requester} one method at a time. */
export class RequesterBuilder {
  private start: MetadataRequester | undefined = undefined;
  private message: MessageRequester | undefined = undefined;
  private halfClose: CloseRequester | undefined = undefined;
  private cancel: CancelRequester | undefined = undefined;

  /** Sets the requester's `start`. */
  withStart(start: MetadataRequester): this {
    this.start = start;
    return this;
  }

  /** Sets the requester's `sendMessage`. */
  withSendMessage(sendMessage: MessageRequester): this {
    this.message = sendMessage;
    return this;
  }

  /** Sets the requester's `halfClose`. */
  withHalfClose(halfClose: CloseRequester): this {
    this.halfClose = halfClose;
    return this;
  }

  /** Sets the requester's `cancel`. */
  withCancel(cancel: CancelRequester): this {
    this.cancel = cancel;
    return this;
  }

  /** The requester; methods not set are `undefined` and pass their operations on. */
  build(): Requester {
    return {
      start: this.start,
      sendMessage: this.message,
      halfClose: this.halfClose,
      cancel: this.cancel,
    };
  }
}

// Fill in what a partial listener or requester leaves out.
const passThroughListener: FullListener = {
  onReceiveMetadata: (metadata, next) => next(metadata),
  onReceiveMessage: (message, next) => next(message),
  onReceiveStatus: (status, next) => next(status),
};

const passThroughRequester: FullRequester = {
  start: (metadata, listener, next) => next(metadata, listener),
  sendMessage: (message, next) => next(message),
  halfClose: (next) => next(),
  cancel: (next) => next(),
};

function ignore(): void {}

/** What a write carries besides the message: the callback for write backpressure. */
export interface MessageContext {
  /** Called once the transport has taken the message. */
  callback?: (error?: Error | null) => void;
  /** Write flags; accepted for grpc-js compatibility, not used. */
  flags?: number;
}

/**
 * One link of an interceptor chain, as the link above sees it: what
 * `nextCall(options)` returns and what an {@link InterceptingCall} wraps.
 * Messages are objects; only the bottom of the chain sees bytes.
 */
export interface InterceptingCallInterface {
  /** Ends the call with this status (goes through the interceptors' `cancel`). */
  cancelWithStatus(status: Status, details: string): void;
  /** The server's address, or `unknown` before the call has a connection. */
  getPeer(): string;
  /** Starts the call; `listener` receives the responses. */
  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void;
  /** Sends one message; `context.callback` runs once the transport took it. */
  sendMessageWithContext(context: MessageContext, message: any): void;
  /** Sends one message. */
  sendMessage(message: any): void;
  /** Asks for the next response message; the transport delivers them anyway, so this only passes down. */
  startRead(): void;
  /** Tells the server no more messages will come. */
  halfClose(): void;
}

/**
 * What an {@link Interceptor} returns: runs the interceptor's requester in
 * front of `nextCall`, the rest of the chain.
 */
export class InterceptingCall implements InterceptingCallInterface {
  private readonly requester: FullRequester;
  /** `start` is with the requester and not passed on yet. */
  private processingMetadata = false;
  /** A message is with the requester and not passed on yet (one flag, as in grpc-js). */
  private processingMessage = false;
  /** Messages passed on while `start` was still held, in order. */
  private pendingMessages: Array<[MessageContext, unknown]> | null = null;
  /** The half-close was passed on while something before it was still held. */
  private pendingHalfClose = false;

  /**
   * @param nextCall The rest of the chain: what the interceptor's `nextCall(options)` returned.
   * @param requester What to do with outgoing operations; missing methods pass them on.
   */
  constructor(
    private readonly nextCall: InterceptingCallInterface,
    requester?: Requester,
  ) {
    this.requester =
      requester === undefined
        ? passThroughRequester
        : {
            start: requester.start ?? passThroughRequester.start,
            sendMessage: requester.sendMessage ?? passThroughRequester.sendMessage,
            halfClose: requester.halfClose ?? passThroughRequester.halfClose,
            cancel: requester.cancel ?? passThroughRequester.cancel,
          };
  }

  /** Cancels through the requester's `cancel`, which may pass it on or ignore it. */
  cancelWithStatus(status: Status, details: string): void {
    this.requester.cancel(() => this.nextCall.cancelWithStatus(status, details));
  }

  /** The server's address, from the bottom of the chain. */
  getPeer(): string {
    return this.nextCall.getPeer();
  }

  /**
   * Runs the requester's `start`. If it passes on an interceptor's
   * {@link Listener} rather than the listener it was given, that listener
   * runs in front of the given one.
   */
  start(metadata: Metadata, interceptingListener?: Partial<InterceptingListener>): void {
    const fullInterceptingListener: InterceptingListener = {
      onReceiveMetadata:
        interceptingListener?.onReceiveMetadata?.bind(interceptingListener) ?? ignore,
      onReceiveMessage:
        interceptingListener?.onReceiveMessage?.bind(interceptingListener) ?? ignore,
      onReceiveStatus: interceptingListener?.onReceiveStatus?.bind(interceptingListener) ?? ignore,
    };
    this.processingMetadata = true;
    this.requester.start(metadata, fullInterceptingListener, (finalMetadata, listener) => {
      this.processingMetadata = false;
      let finalListener: InterceptingListener;
      if (isInterceptingListener(listener)) {
        finalListener = listener;
      } else {
        finalListener = new InterceptingListenerImpl(
          {
            onReceiveMetadata: listener.onReceiveMetadata ?? passThroughListener.onReceiveMetadata,
            onReceiveMessage: listener.onReceiveMessage ?? passThroughListener.onReceiveMessage,
            onReceiveStatus: listener.onReceiveStatus ?? passThroughListener.onReceiveStatus,
          },
          fullInterceptingListener,
        );
      }
      this.nextCall.start(finalMetadata, finalListener);
      const pending = this.pendingMessages;
      this.pendingMessages = null;
      if (pending !== null) {
        for (const [context, message] of pending) {
          this.nextCall.sendMessageWithContext(context, message);
        }
      }
      this.passPendingHalfClose();
    });
  }

  /** Runs the requester's `sendMessage`; held messages wait for `start` to be passed on. */
  sendMessageWithContext(context: MessageContext, message: any): void {
    this.processingMessage = true;
    this.requester.sendMessage(message, (finalMessage) => {
      this.processingMessage = false;
      if (this.processingMetadata) {
        (this.pendingMessages ??= []).push([context, finalMessage]);
      } else {
        this.nextCall.sendMessageWithContext(context, finalMessage);
        this.passPendingHalfClose();
      }
    });
  }

  /** Same as `sendMessageWithContext` without a write callback. */
  sendMessage(message: any): void {
    this.sendMessageWithContext({}, message);
  }

  /** Passes down the chain. */
  startRead(): void {
    this.nextCall.startRead();
  }

  /** Runs the requester's `halfClose`; it reaches the server after any message still held. */
  halfClose(): void {
    this.requester.halfClose(() => {
      if (this.processingMetadata || this.processingMessage) {
        this.pendingHalfClose = true;
      } else {
        this.nextCall.halfClose();
      }
    });
  }

  private passPendingHalfClose(): void {
    if (!this.pendingHalfClose || this.processingMetadata || this.processingMessage) return;
    this.pendingHalfClose = false;
    this.nextCall.halfClose();
  }
}

/** What an interceptor is told about the call: the call options plus the method. */
export interface InterceptorOptions extends CallOptions {
  /** The method being called: path, streaming shape, (de)serializers. */
  method_definition: ClientMethodDefinition<any, any>;
}

/**
 * Creates the rest of the chain below an interceptor. An interceptor may
 * change the options (deadline, host, credentials, …) it passes; the bottom
 * of the chain creates the transport call with them.
 */
export interface NextCall {
  (options: InterceptorOptions): InterceptingCallInterface;
}

/**
 * A client interceptor: called once per call with the options and a
 * {@link NextCall}, returns `new InterceptingCall(nextCall(options), requester)`.
 */
export interface Interceptor {
  (options: InterceptorOptions, nextCall: NextCall): InterceptingCall;
}

/**
 * Chooses the interceptor for a method, per call; a falsy result means no
 * interceptor for it.
 */
export interface InterceptorProvider {
  (methodDefinition: ClientMethodDefinition<any, any>): Interceptor;
}

/**
 * The interceptors configured for a call.
 * @internal
 */
export interface InterceptorArguments {
  clientInterceptors: Interceptor[];
  clientInterceptorProviders: InterceptorProvider[];
  callInterceptors: Interceptor[];
  callInterceptorProviders: InterceptorProvider[];
}

/**
 * Creates a call on `channel` as `options` say: deadline, authority,
 * parent, and per-call credentials.
 * @internal
 */
export function getCall(channel: ChannelInterface, path: string, options: CallOptions): Call {
  const call = channel.createCall(
    path,
    options.deadline ?? Infinity,
    options.host,
    options.parent ?? null,
    options.propagate_flags,
  );
  if (options.credentials !== undefined) call.setCredentials(options.credentials);
  return call;
}

/**
 * Builds a call's interceptor chain. The call's own interceptors (or
 * providers) replace the client's entirely; the first in the list is the
 * outermost, so it sees outgoing operations first and responses last.
 * @throws InterceptorConfigurationError if a level has both interceptors and providers.
 * @internal
 */
export function getInterceptingCall(
  interceptorArgs: InterceptorArguments,
  methodDefinition: ClientMethodDefinition<any, any>,
  options: CallOptions,
  channel: ChannelInterface,
): InterceptingCallInterface {
  if (
    interceptorArgs.clientInterceptors.length > 0 &&
    interceptorArgs.clientInterceptorProviders.length > 0
  ) {
    throw new InterceptorConfigurationError(
      'Both interceptors and interceptor_providers were passed as options ' +
        'to the client constructor. Only one of these is allowed.',
    );
  }
  if (
    interceptorArgs.callInterceptors.length > 0 &&
    interceptorArgs.callInterceptorProviders.length > 0
  ) {
    throw new InterceptorConfigurationError(
      'Both interceptors and interceptor_providers were passed as call ' +
        'options. Only one of these is allowed.',
    );
  }
  const fromCall =
    interceptorArgs.callInterceptors.length > 0 ||
    interceptorArgs.callInterceptorProviders.length > 0;
  const interceptors = fromCall
    ? interceptorArgs.callInterceptors
    : interceptorArgs.clientInterceptors;
  const providers = fromCall
    ? interceptorArgs.callInterceptorProviders
    : interceptorArgs.clientInterceptorProviders;
  // Providers may decline a method by returning nothing.
  const chain = interceptors
    .concat(providers.map((provider) => provider(methodDefinition)))
    .filter((interceptor) => interceptor);
  const interceptorOptions: InterceptorOptions = Object.assign({}, options, {
    method_definition: methodDefinition,
  });
  const bottom: NextCall = (finalOptions) =>
    new BaseInterceptingCall(
      getCall(channel, methodDefinition.path, finalOptions),
      methodDefinition,
    );
  const nextCall = chain.reduceRight<NextCall>(
    (next, interceptor) => (currentOptions) => interceptor(currentOptions, next),
    bottom,
  );
  return nextCall(interceptorOptions);
}
