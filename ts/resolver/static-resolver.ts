// Resolvers whose answer is fixed by the target text (ipv4:, ipv6:, unix:,
// passthrough:) share one behaviour: report the answer once, asynchronously,
// and ignore further requests until destroyed, because asking again cannot
// change it and re-reporting would only churn the load balancer.
import type { StatusOr } from '../status-or';
import type { Endpoint } from '../subchannel/subchannel-address';
import type { Resolver, ResolverListener } from './resolver';

/** Base class for resolvers whose result is computed once from the target. */
export abstract class StaticResolver implements Resolver {
  private reported = false;
  // Bumped by destroy() so that a report queued before it is dropped.
  private generation = 0;

  /**
   * @param listener Where to report.
   * @param result The endpoints, or why the target could not be parsed.
   */
  protected constructor(
    private readonly listener: ResolverListener,
    private readonly result: StatusOr<Endpoint[]>,
  ) {}

  /** Reports the fixed result on the next tick, the first time it is asked for. */
  updateResolution(): void {
    if (this.reported) return;
    this.reported = true;
    const generation = this.generation;
    // The listener must never run synchronously inside updateResolution().
    process.nextTick(() => {
      if (generation === this.generation) this.listener(this.result, {}, null, '');
    });
  }

  /** Forgets that the result was reported, so the next request reports it again. */
  destroy(): void {
    this.generation++;
    this.reported = false;
  }
}
