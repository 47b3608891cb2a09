// Calls with one response, as promises: unary (one native call starts it:
// headers, the request and the half-close together) and client streaming
// (requests pulled from an iterable). No Client or stream object in
// between: the listener below is the whole per-call state.
import type { Call, StatusObject } from '../call/call-interface';
import { unaryCallerStack } from '../call/caller-stack';
import { parseFailure, startWithRequest } from '../call/client-calls';
import type { ChannelInterface } from '../channel-interface';
import { Status } from '../constants';
import type { Metadata } from '../metadata';
import { abortedBeforeStart, CallState } from './call-state';
import { createCall, metadataOf, type ModernCallOptions } from './options';
import { pumpRequests, type RequestSource } from './request-pump';

/** What a call needs to know about its method. */
export interface MethodInfo<Req, Res> {
  /** Full path, `/pkg.Service/Method`. */
  path: string;
  serialize: (value: Req) => Buffer;
  deserialize: (bytes: Buffer) => Res;
}

/** Resolves or rejects the call's promise with its single response. */
class SingleResponseState<Res> extends CallState {
  private response: Res | undefined = undefined;
  private received = false;
  private resolve!: (value: Res) => void;
  private reject!: (reason: unknown) => void;
  /** The call's promise; created with the state so that it needs no second object. */
  readonly promise: Promise<Res>;

  constructor(
    call: Call,
    options: ModernCallOptions,
    private readonly deserialize: (bytes: Buffer) => Res,
    callerStack: Error | null,
  ) {
    super(call, options, callerStack);
    this.promise = new Promise<Res>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  onReceiveMessage(message: Buffer): void {
    // One response is all there is: it is never reported read, so a unary
    // call costs no read acknowledgement (no extra native call); its bytes
    // go back to the window when the stream ends.
    this.call.pauseRead();
    if (this.finished) return;
    if (this.received) {
      // grpc-js's wording for a unary response stream with a second message.
      this.call.cancelWithStatus(Status.UNIMPLEMENTED, 'Too many responses received');
      return;
    }
    try {
      this.response = this.deserialize(message);
    } catch (error) {
      this.call.cancelWithStatus(Status.INTERNAL, parseFailure(error));
      return;
    }
    this.received = true;
  }

  protected finish(status: StatusObject): void {
    let failure = this.failure(status);
    if (failure === null && !this.received) {
      // The server said OK without a response: grpc-js reports it so.
      failure = this.failure({
        code: Status.UNIMPLEMENTED,
        details: 'No message received',
        metadata: status.metadata,
      });
    }
    if (failure !== null) this.reject(failure.error);
    else this.resolve(this.response as Res);
  }
}

/**
 * Makes a unary call: one request, one response.
 * @returns The response; rejects with a {@link GrpcError} on a non-OK status.
 */
export function unaryCall<Req, Res>(
  channel: ChannelInterface,
  method: MethodInfo<Req, Res>,
  request: Req,
  options: ModernCallOptions,
): Promise<Res> {
  const signal = options.signal;
  if (signal !== undefined && signal.aborted) return Promise.reject(abortedBeforeStart(signal));
  let metadata: Metadata;
  let call: Call;
  try {
    metadata = metadataOf(options);
    call = createCall(channel, method.path, options);
  } catch (error) {
    return Promise.reject(error);
  }
  const state = new SingleResponseState(call, options, method.deserialize, unaryCallerStack());
  state.watch(signal);
  startWithRequest(call, metadata, state, method.serialize, request);
  return state.promise;
}

/**
 * Makes a client-streaming call: requests from `requests`, one response.
 * @returns The response; rejects with a {@link GrpcError} on a non-OK status.
 */
export function clientStreamingCall<Req, Res>(
  channel: ChannelInterface,
  method: MethodInfo<Req, Res>,
  requests: RequestSource<Req>,
  options: ModernCallOptions,
): Promise<Res> {
  const signal = options.signal;
  if (signal !== undefined && signal.aborted) return Promise.reject(abortedBeforeStart(signal));
  let metadata: Metadata;
  let call: Call;
  try {
    metadata = metadataOf(options);
    call = createCall(channel, method.path, options);
  } catch (error) {
    return Promise.reject(error);
  }
  const state = new SingleResponseState(call, options, method.deserialize, new Error());
  state.watch(signal);
  call.start(metadata, state);
  void pumpRequests(state, method.serialize, requests);
  return state.promise;
}
