// Retries and hedging (gRFC A6), as grpc-js's retrying-call.ts behaves. A
// RetryingCall is made only for methods whose service config has a
// retryPolicy or hedgingPolicy (and while `grpc.enable_retries` is not 0);
// every other call is a bare TransportCall, so the feature costs nothing
// when unused.
//
// The call owns its attempts (TransportCalls from the channel), keeps what
// the user sent until one attempt is committed and replays it on each new
// attempt. An attempt commits when it receives headers or a message, when it
// ends, or when the replay buffer is full; after that the call is a pass-through.
import { Status } from '../constants';
import type { CallCredentials } from '../credentials';
import { durationToMs, parseDuration } from '../duration';
import { LongTimer } from '../long-timer';
import { Metadata } from '../metadata';
import type { HedgingPolicy, RetryPolicy } from '../service-config';
import {
  deadlineToMs,
  type Call,
  type CallListener,
  type StartOptions,
  type StatusObject,
} from './call-interface';
import type { MessageBufferTracker, RetryThrottler } from './retry-throttler';
import { isRefusedStream, type CallSettings } from './transport-call';

const PREVIOUS_ATTEMPTS_KEY = 'grpc-previous-rpc-attempts';
const PUSHBACK_KEY = 'grpc-retry-pushback-ms';

/** grpc-js's cap on maxAttempts (`grpc-node.retry_max_attempts_limit`). */
export const DEFAULT_MAX_ATTEMPTS_LIMIT = 5;

/** A method's retry or hedging policy, with durations and codes parsed once per method. */
export interface RetryConfig {
  maxAttempts: number;
  retry?: {
    initialBackoffMs: number;
    maxBackoffMs: number;
    backoffMultiplier: number;
    retryableStatusCodes: ReadonlySet<Status>;
  };
  hedging?: {
    hedgingDelayMs: number;
    nonFatalStatusCodes: ReadonlySet<Status>;
  };
  /** Settings of each attempt: no method timeout (the call applies it once) and no transparent retry of their own. */
  attemptSettings: CallSettings;
  /** The method timeout, counted from the call's start across all attempts. */
  timeoutMs?: number;
}

/**
 * Builds the per-method retry config.
 * @returns undefined when the method has neither policy.
 */
export function makeRetryConfig(
  retryPolicy: RetryPolicy | undefined,
  hedgingPolicy: HedgingPolicy | undefined,
  settings: CallSettings,
  maxAttemptsLimit: number,
): RetryConfig | undefined {
  const attemptSettings: CallSettings = {
    ...settings,
    timeoutMs: undefined,
    transparentRetry: false,
  };
  if (retryPolicy !== undefined) {
    return {
      maxAttempts: Math.min(retryPolicy.maxAttempts, maxAttemptsLimit),
      retry: {
        initialBackoffMs: durationStringToMs(retryPolicy.initialBackoff),
        maxBackoffMs: durationStringToMs(retryPolicy.maxBackoff),
        backoffMultiplier: retryPolicy.backoffMultiplier,
        retryableStatusCodes: new Set(retryPolicy.retryableStatusCodes),
      },
      attemptSettings,
      timeoutMs: settings.timeoutMs,
    };
  }
  if (hedgingPolicy !== undefined) {
    return {
      maxAttempts: Math.min(hedgingPolicy.maxAttempts, maxAttemptsLimit),
      hedging: {
        hedgingDelayMs:
          hedgingPolicy.hedgingDelay === undefined
            ? 0
            : durationStringToMs(hedgingPolicy.hedgingDelay),
        nonFatalStatusCodes: new Set(hedgingPolicy.nonFatalStatusCodes ?? []),
      },
      attemptSettings,
      timeoutMs: settings.timeoutMs,
    };
  }
  return undefined;
}

function durationStringToMs(value: string): number {
  const d = parseDuration(value);
  return d === null ? 0 : durationToMs(d);
}

/** What a RetryingCall needs from its channel. */
export interface RetryHost {
  /** A new attempt: a call on the transport, not yet started. */
  createAttempt(
    method: string,
    deadline: number,
    host: string | null,
    settings: CallSettings,
  ): Call;
  /** The channel-wide budget for messages kept for replay. */
  readonly retryBuffer: MessageBufferTracker;
}

/**
 * retry / hedging: new attempts may start; transparent: only a refused
 * stream may be retried (retries were stopped by pushback or a full buffer);
 * committed: one attempt is the call; done: the status was reported.
 */
type State = 'retry' | 'hedging' | 'transparent' | 'committed' | 'done';

interface Attempt {
  call: Call;
  /** Still expected to report; false once it ended or was discarded. */
  active: boolean;
  /** Index in the buffer of the next entry to hand to this attempt. */
  next: number;
}

/** A sent message (or the half-close, `message === null`) kept for replay. */
interface Entry {
  message: Buffer | null;
  /** Counted against the retry buffer budgets. */
  allocated: boolean;
  /** The writer's callback, held while the message could not be buffered. */
  onWritten?: () => void;
}

/** One RPC with a retry or hedging policy: owns its attempts. */
export class RetryingCall implements Call {
  private state: State;
  private listener: CallListener | null = null;
  private metadata: Metadata | null = null;
  private credentials: CallCredentials | null = null;
  private readonly attempts: Attempt[] = [];
  private buffer: Entry[] = [];
  private bufferedBytes = 0;
  private committed: Attempt | null = null;
  /** Attempts counted against maxAttempts (a transparent retry is not one). */
  private attemptCount = 0;
  private transparentRetryUsed = false;
  private nextBackoffMs = 0;
  /**
   * What the call waits on between attempts (backoff, pushback): cleared when
   * it commits or ends, so no timer outlives the call.
   */
  private readonly waits = new Set<LongTimer>();
  /** The consumer paused reading (see `Call.pauseRead`). */
  private readPaused = false;
  private hedgingTimer: LongTimer | null = null;
  /** The whole call's deadline, ms since the epoch (Infinity: none). */
  private readonly deadline: number;

  constructor(
    private readonly host: RetryHost,
    private readonly method: string,
    deadline: Date | number,
    private readonly authority: string | null,
    private readonly config: RetryConfig,
    private readonly throttler: RetryThrottler | undefined,
  ) {
    const callerDeadline = deadlineToMs(deadline);
    this.deadline =
      config.timeoutMs === undefined
        ? callerDeadline
        : Math.min(callerDeadline, Date.now() + config.timeoutMs);
    if (config.retry !== undefined) {
      this.state = 'retry';
      this.nextBackoffMs = config.retry.initialBackoffMs;
    } else {
      this.state = 'hedging';
    }
  }

  start(metadata: Metadata, listener: CallListener, options?: StartOptions): void {
    this.listener = listener;
    this.metadata = metadata;
    let overflow = false;
    if (options?.message !== undefined) overflow = !this.bufferMessage(options.message);
    if (options?.halfClose === true) this.buffer.push({ message: null, allocated: false });
    this.attemptCount = 1;
    this.startAttempt();
    if (overflow) this.commitWithMostMessages();
    this.maybeStartHedgingTimer();
  }

  sendMessage(message: Buffer, onWritten?: () => void): void {
    if (this.state === 'done') {
      if (onWritten) process.nextTick(onWritten);
      return;
    }
    if (this.committed !== null) {
      this.committed.call.sendMessage(message, onWritten);
      return;
    }
    if (this.bufferMessage(message)) {
      if (onWritten) process.nextTick(onWritten);
      this.handOverToAll();
      return;
    }
    // Too big to keep for a replay: the call cannot be retried past this point.
    this.buffer[this.buffer.length - 1].onWritten = onWritten;
    this.commitWithMostMessages();
  }

  halfClose(): void {
    if (this.state === 'done') return;
    if (this.committed !== null) {
      this.committed.call.halfClose();
      return;
    }
    this.buffer.push({ message: null, allocated: false });
    this.handOverToAll();
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.state === 'done') return;
    const running = this.attempts.filter((a) => a.active);
    for (const a of running) a.active = false;
    this.report({ code, details, metadata: new Metadata() });
    for (const a of running) a.call.cancelWithStatus(code, details);
  }

  getPeer(): string {
    return this.committed?.call.getPeer() ?? 'unknown';
  }

  // Messages reach the listener only from the committed attempt, but the
  // consumer may pause before that: every attempt follows the same state.
  pauseRead(): void {
    this.readPaused = true;
    for (const a of this.attempts) if (a.active) a.call.pauseRead();
  }

  resumeRead(): void {
    this.readPaused = false;
    for (const a of this.attempts) if (a.active) a.call.resumeRead();
  }

  setCredentials(credentials: CallCredentials): void {
    this.credentials = credentials;
  }

  /** Keeps a message for replay. @returns false when it is over a buffer limit (kept, unallocated). */
  private bufferMessage(message: Buffer): boolean {
    const allocated = this.host.retryBuffer.allocate(message.length, this.bufferedBytes);
    if (allocated) this.bufferedBytes += message.length;
    this.buffer.push({ message, allocated });
    return allocated;
  }

  private startAttempt(): void {
    const call = this.host.createAttempt(
      this.method,
      this.deadline,
      this.authority,
      this.config.attemptSettings,
    );
    if (this.credentials !== null) call.setCredentials(this.credentials);
    if (this.readPaused) call.pauseRead();
    const attempt: Attempt = { call, active: true, next: 0 };
    this.attempts.push(attempt);
    const previous = this.attemptCount - 1;
    let metadata = this.metadata as Metadata;
    if (previous > 0) {
      metadata = metadata.clone();
      metadata.set(PREVIOUS_ATTEMPTS_KEY, String(previous));
    }
    let receivedMetadata = false;
    const listener: CallListener = {
      onReceiveMetadata: (md) => {
        this.commit(attempt);
        receivedMetadata = true;
        if (previous > 0) md.set(PREVIOUS_ATTEMPTS_KEY, String(previous));
        if (attempt.active) this.listener?.onReceiveMetadata(md);
      },
      onReceiveMessage: (message) => {
        this.commit(attempt);
        if (attempt.active) this.listener?.onReceiveMessage(message);
      },
      onReceiveStatus: (status) => {
        if (!receivedMetadata && previous > 0) {
          status.metadata.set(PREVIOUS_ATTEMPTS_KEY, String(previous));
        }
        this.onAttemptStatus(attempt, status);
      },
    };
    // The first message and the half-close travel with the headers, so a
    // unary attempt is still one native call.
    let options: StartOptions | undefined;
    const first = this.buffer[0];
    if (first !== undefined && first.message !== null) {
      const halfClose = this.buffer[1]?.message === null;
      options = { message: first.message, halfClose };
      attempt.next = halfClose ? 2 : 1;
    }
    call.start(metadata, listener, options);
    this.handOver(attempt);
  }

  /** Sends an attempt the buffered entries it has not had yet. */
  private handOver(attempt: Attempt): void {
    while (attempt.active && attempt.next < this.buffer.length) {
      const entry = this.buffer[attempt.next++];
      if (entry.message === null) {
        attempt.call.halfClose();
      } else {
        const onWritten = entry.onWritten;
        entry.onWritten = undefined;
        attempt.call.sendMessage(entry.message, onWritten);
      }
    }
  }

  private handOverToAll(): void {
    for (const a of this.attempts) if (a.active) this.handOver(a);
  }

  private commitWithMostMessages(): void {
    let best: Attempt | null = null;
    for (const a of this.attempts) if (a.active && (best === null || a.next > best.next)) best = a;
    // Between attempts nothing can be committed; no new attempt may start.
    if (best === null) this.state = 'transparent';
    else this.commit(best);
  }

  private commit(attempt: Attempt): void {
    if (this.state === 'committed' || this.state === 'done') return;
    this.state = 'committed';
    this.committed = attempt;
    this.clearTimers();
    for (const a of this.attempts) {
      if (a === attempt || !a.active) continue;
      a.active = false;
      a.call.cancelWithStatus(Status.CANCELLED, 'Discarded in favor of other hedged attempt');
    }
    this.handOver(attempt);
    this.releaseBuffer();
  }

  private releaseBuffer(): void {
    for (const entry of this.buffer) {
      if (entry.allocated && entry.message !== null)
        this.host.retryBuffer.free(entry.message.length);
      // Writers waiting on a message that will never go out must not hang.
      if (entry.onWritten) process.nextTick(entry.onWritten);
    }
    this.buffer = [];
    this.bufferedBytes = 0;
  }

  private onAttemptStatus(attempt: Attempt, status: StatusObject): void {
    if (!attempt.active) return;
    attempt.active = false;
    if (status.code === Status.OK) {
      this.throttler?.addCallSucceeded();
      this.commit(attempt);
      this.report(status);
      return;
    }
    if (this.state === 'committed' || this.state === 'done') {
      this.report(status);
      return;
    }
    if (!this.transparentRetryUsed && isRefusedStream(status.details)) {
      // The server's application never saw it: does not count as an attempt.
      this.transparentRetryUsed = true;
      this.startAttempt();
      return;
    }
    if (Date.now() >= this.deadline) {
      this.finish(attempt, status);
      return;
    }
    const pushback = getPushback(status.metadata);
    switch (this.state) {
      case 'retry': {
        const retry = this.config.retry;
        if (retry === undefined || !retry.retryableStatusCodes.has(status.code)) {
          this.finish(attempt, status);
          return;
        }
        this.throttler?.addCallFailed();
        this.scheduleRetry(pushback, attempt, status);
        return;
      }
      case 'hedging': {
        if (!this.config.hedging?.nonFatalStatusCodes.has(status.code)) {
          this.finish(attempt, status);
          return;
        }
        this.throttler?.addCallFailed();
        if (pushback !== null && pushback < 0) {
          this.state = 'transparent';
          this.finish(attempt, status);
          return;
        }
        this.wait(pushback ?? 0, () => {
          this.maybeStartHedgingAttempt();
          // That was the last attempt: its status is the call's.
          if (!this.attempts.some((a) => a.active)) this.finish(attempt, status);
        });
        return;
      }
      default:
        this.finish(attempt, status);
    }
  }

  private finish(attempt: Attempt, status: StatusObject): void {
    this.commit(attempt);
    this.report(status);
  }

  private scheduleRetry(pushback: number | null, attempt: Attempt, status: StatusObject): void {
    const retry = this.config.retry;
    if (retry === undefined || this.attemptCount >= this.config.maxAttempts) {
      this.finish(attempt, status);
      return;
    }
    let delay: number;
    if (pushback === null) {
      // Jitter of ±20% around the current backoff, as grpc-js applies it.
      delay = (0.8 + Math.random() * 0.4) * this.nextBackoffMs;
      this.nextBackoffMs = Math.min(
        this.nextBackoffMs * retry.backoffMultiplier,
        retry.maxBackoffMs,
      );
    } else if (pushback < 0) {
      // The server asks for no more retries.
      this.state = 'transparent';
      this.finish(attempt, status);
      return;
    } else {
      delay = pushback;
      this.nextBackoffMs = retry.initialBackoffMs;
    }
    this.wait(delay, () => {
      if (this.state !== 'retry' || !(this.throttler?.canRetryCall() ?? true)) {
        this.finish(attempt, status);
        return;
      }
      this.attemptCount++;
      this.startAttempt();
    });
  }

  /**
   * Runs `next` after `delayMs`, unless the call's deadline comes first: then
   * the call ends DEADLINE_EXCEEDED, as grpc-js's deadline timer ends it. A
   * LongTimer, so that a pushback past Node's timer limit is not 1 ms.
   */
  private wait(delayMs: number, next: () => void): void {
    const remaining = this.deadline - Date.now();
    const deadlineFirst = remaining <= delayMs;
    const timer = new LongTimer(
      () => {
        this.waits.delete(timer);
        if (!deadlineFirst) next();
        else if (this.state !== 'done') {
          this.cancelWithStatus(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
        }
      },
      deadlineFirst ? remaining : delayMs,
    );
    this.waits.add(timer);
  }

  private maybeStartHedgingAttempt(): void {
    if (this.state !== 'hedging' || this.attemptCount >= this.config.maxAttempts) return;
    this.attemptCount++;
    this.startAttempt();
    this.maybeStartHedgingTimer();
  }

  private maybeStartHedgingTimer(): void {
    this.hedgingTimer?.clear();
    this.hedgingTimer = null;
    const hedging = this.config.hedging;
    if (this.state !== 'hedging' || hedging === undefined) return;
    if (this.attemptCount >= this.config.maxAttempts) return;
    this.hedgingTimer = new LongTimer(() => {
      this.hedgingTimer = null;
      this.maybeStartHedgingAttempt();
    }, hedging.hedgingDelayMs).unref();
  }

  private clearTimers(): void {
    for (const timer of this.waits) timer.clear();
    this.waits.clear();
    this.hedgingTimer?.clear();
    this.hedgingTimer = null;
  }

  private report(status: StatusObject): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.clearTimers();
    this.releaseBuffer();
    const listener = this.listener;
    process.nextTick(() => listener?.onReceiveStatus(status));
  }
}

/**
 * Reads `grpc-retry-pushback-ms`: null when absent; a negative number when
 * the server asks for no retry, which A6 says an unparseable value also means.
 */
function getPushback(metadata: Metadata): number | null {
  const values = metadata.get(PUSHBACK_KEY);
  if (values.length === 0) return null;
  const text = String(values[0]);
  return /^\d+$/.test(text) ? Number(text) : -1;
}
