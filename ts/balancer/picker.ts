// Pickers: the snapshot a load balancer hands the channel each time its
// state changes. Every call asks the current picker where to go, so a pick
// must be cheap and must not block; it answers with a subchannel, "wait for
// the next picker", "fail" or "drop". Same names and shapes as grpc-js's
// `experimental` picker API so balancers written for grpc-js run unchanged.
import type { StatusObject } from '../call/call-interface';
import { Status } from '../constants';
import { Metadata } from '../metadata';
import type { SubchannelInterface } from '../subchannel/subchannel-interface';

/** What a pick decided. Same names and values as grpc-js's `PickResultType`. */
export enum PickResultType {
  /** Use `subchannel` for the call. */
  COMPLETE = 0,
  /** No decision yet: wait for the next picker. */
  QUEUE = 1,
  /** Fail the call with `status`, unless it is wait-for-ready (then queue it). */
  TRANSIENT_FAILURE = 2,
  /** Fail the call with `status`, even if it is wait-for-ready. */
  DROP = 3,
}

/** Called when a call started on a picked subchannel ends. */
export type OnCallEnded = (statusCode: Status, details: string, metadata: Metadata) => void;

/** The answer of {@link Picker.pick}. */
export interface PickResult {
  /** What the picker decided: complete, queue, fail or drop. */
  pickResultType: PickResultType;
  /** The subchannel to use; meaningful only when `pickResultType` is COMPLETE. */
  subchannel: SubchannelInterface | null;
  /** The status to end the call with; set for TRANSIENT_FAILURE and DROP. */
  status: StatusObject | null;
  /** Called once the call has started on the picked subchannel. */
  onCallStarted: (() => void) | null;
  /** Called once the call started on the picked subchannel has ended. */
  onCallEnded: OnCallEnded | null;
}

/** A {@link PickResult} that sends the call to a subchannel. */
export interface CompletePickResult extends PickResult {
  pickResultType: PickResultType.COMPLETE;
  subchannel: SubchannelInterface | null;
  status: null;
}

/** A {@link PickResult} that makes the call wait for the next picker. */
export interface QueuePickResult extends PickResult {
  pickResultType: PickResultType.QUEUE;
  subchannel: null;
  status: null;
  onCallStarted: null;
  onCallEnded: null;
}

/** A {@link PickResult} that fails a fail-fast call. */
export interface TransientFailurePickResult extends PickResult {
  pickResultType: PickResultType.TRANSIENT_FAILURE;
  subchannel: null;
  status: StatusObject;
  onCallStarted: null;
  onCallEnded: null;
}

/** A {@link PickResult} that fails the call whatever its wait-for-ready flag. */
export interface DropCallPickResult extends PickResult {
  pickResultType: PickResultType.DROP;
  subchannel: null;
  status: StatusObject;
  onCallStarted: null;
  onCallEnded: null;
}

/** What a picker knows about the call it picks for. */
export interface PickArgs {
  /** The call's request metadata. */
  metadata: Metadata;
  /** Extra information from the channel (e.g. from a config selector). */
  extraPickInfo: { [key: string]: string };
}

/**
 * A momentary view of a load balancer that decides where each call goes.
 * Balancers replace their picker on every state change instead of mutating
 * it, so a picker can be used without locks or re-validation.
 */
export interface Picker {
  /**
   * Decides where a call goes. Must not block or throw.
   * @param pickArgs The call's metadata and extra pick information.
   */
  pick(pickArgs: PickArgs): PickResult;
}

/**
 * The picker of a balancer in TRANSIENT_FAILURE: every pick fails with the
 * given status (UNAVAILABLE by default).
 */
export class UnavailablePicker implements Picker {
  private readonly status: StatusObject;

  /** @param status Overrides for the code (UNAVAILABLE), details and metadata. */
  constructor(status?: Partial<StatusObject>) {
    this.status = {
      code: status?.code ?? Status.UNAVAILABLE,
      details: status?.details ?? 'No connection established',
      metadata: status?.metadata ?? new Metadata(),
    };
  }

  /** Fails the pick with this picker's status. */
  pick(_pickArgs: PickArgs): TransientFailurePickResult {
    return {
      pickResultType: PickResultType.TRANSIENT_FAILURE,
      subchannel: null,
      status: this.status,
      onCallStarted: null,
      onCallEnded: null,
    };
  }
}

/** The part of a load balancer a {@link QueuePicker} needs. */
export interface ExitIdleTarget {
  /** Leave IDLE and start connecting. */
  exitIdle(): void;
}

/**
 * The picker of a balancer in IDLE or CONNECTING: picks wait for the next
 * picker. The first pick also asks the balancer to leave IDLE, so an idle
 * channel connects on its first call rather than on creation.
 *
 * With a `childPicker`, picks are delegated to it instead of queued (a
 * parent balancer that is idle but whose child can already answer), and the
 * first pick still calls `exitIdle`.
 */
export class QueuePicker implements Picker {
  private calledExitIdle = false;

  /**
   * @param loadBalancer The balancer to wake on the first pick.
   * @param childPicker Optional picker to delegate picks to.
   */
  constructor(
    private readonly loadBalancer: ExitIdleTarget,
    private readonly childPicker?: Picker,
  ) {}

  /** Queues the call (or delegates it); the first call wakes the balancer. */
  pick(pickArgs: PickArgs): PickResult {
    if (!this.calledExitIdle) {
      this.calledExitIdle = true;
      // Deferred because a pick runs inside the channel's call path: waking
      // the balancer synchronously would make it report a new picker while
      // the channel is still handling this one.
      process.nextTick(() => this.loadBalancer.exitIdle());
    }
    if (this.childPicker !== undefined) return this.childPicker.pick(pickArgs);
    const queued: QueuePickResult = {
      pickResultType: PickResultType.QUEUE,
      subchannel: null,
      status: null,
      onCallStarted: null,
      onCallEnded: null,
    };
    return queued;
  }
}
