// A hand-written stand-in for the transport, for unit tests of the call API
// only: it records what the call objects ask of a Call and lets a test play
// the server's part by invoking the listener. Integration tests use real
// servers instead.
import type { Call, CallListener, Deadline, StartOptions } from '../../ts/call/call-interface';
import type { ChannelInterface } from '../../ts/channel-interface';
import { ConnectivityState, Status } from '../../ts/constants';
import type { CallCredentials } from '../../ts/credentials';
import { Metadata } from '../../ts/metadata';

export interface CreateCallArgs {
  method: string;
  deadline: Deadline;
  host: string | null | undefined;
  parentCall: unknown;
  propagateFlags: number | null | undefined;
}

export class FakeCall implements Call {
  listener: CallListener | undefined;
  startMetadata: Metadata | undefined;
  startOptions: StartOptions | undefined;
  startCount = 0;
  sent: Buffer[] = [];
  halfClosed = false;
  cancels: Array<{ code: Status; details: string }> = [];
  ended = false;
  peer = '127.0.0.1:50051';
  credentials: CallCredentials | undefined;

  constructor(readonly args: CreateCallArgs) {}

  start(metadata: Metadata, listener: CallListener, options?: StartOptions): void {
    this.startCount += 1;
    this.startMetadata = metadata;
    this.listener = listener;
    this.startOptions = options;
  }

  sendMessage(message: Buffer, onWritten?: () => void): void {
    this.sent.push(message);
    if (onWritten) process.nextTick(onWritten);
  }

  halfClose(): void {
    this.halfClosed = true;
  }

  /** Receive flow control as the call objects drive it: true while paused. */
  readPaused = false;
  resumes = 0;

  pauseRead(): void {
    this.readPaused = true;
  }

  resumeRead(): void {
    this.readPaused = false;
    this.resumes += 1;
  }

  // Like grpc-js, the status of a local cancellation arrives asynchronously.
  cancelWithStatus(code: Status, details: string): void {
    this.cancels.push({ code, details });
    if (this.ended) return;
    this.ended = true;
    process.nextTick(() =>
      this.listener?.onReceiveStatus({ code, details, metadata: new Metadata() }),
    );
  }

  getPeer(): string {
    return this.peer;
  }

  setCredentials(credentials: CallCredentials): void {
    this.credentials = credentials;
  }

  // The server's side, played by the test. Like a real transport, nothing
  // more is delivered once the call has ended (for example by a cancel).

  headers(metadata: Metadata = new Metadata()): void {
    if (!this.ended) this.listener!.onReceiveMetadata(metadata);
  }

  message(message: Buffer): void {
    if (!this.ended) this.listener!.onReceiveMessage(message);
  }

  finish(code: Status = Status.OK, details = '', trailers = new Metadata()): void {
    if (this.ended) return;
    this.ended = true;
    this.listener!.onReceiveStatus({ code, details, metadata: trailers });
  }
}

export class FakeChannel implements ChannelInterface {
  readonly calls: FakeCall[] = [];
  closed = false;
  state = ConnectivityState.IDLE;

  close(): void {
    this.closed = true;
  }

  getTarget(): string {
    return 'fake:target';
  }

  getConnectivityState(tryToConnect: boolean): ConnectivityState {
    if (this.closed) throw new Error('closed');
    if (tryToConnect && this.state === ConnectivityState.IDLE) this.state = ConnectivityState.READY;
    return this.state;
  }

  watchConnectivityState(
    _currentState: ConnectivityState,
    _deadline: Deadline,
    callback: (error?: Error) => void,
  ): void {
    setImmediate(() => callback());
  }

  createCall(
    method: string,
    deadline: Deadline,
    host: string | null | undefined,
    parentCall: unknown,
    propagateFlags: number | null | undefined,
  ): FakeCall {
    const call = new FakeCall({ method, deadline, host, parentCall, propagateFlags });
    this.calls.push(call);
    return call;
  }

  get last(): FakeCall {
    return this.calls[this.calls.length - 1];
  }
}
