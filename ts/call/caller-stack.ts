// grpc-js appends the stack of the code that started a call to every
// ServiceError ("for call at ..."). Capturing a stack costs several
// microseconds, more than the rest of a unary call's JS work, so for unary
// calls h2grpc captures it only when H2GRPC_CALLER_STACKS=1 is set. Streaming
// calls always capture it: once per stream is cheap.

const enabled = process.env.H2GRPC_CALLER_STACKS === '1';

/** A stack of the current call site for a unary call's error, if enabled. */
export function unaryCallerStack(): Error | null {
  return enabled ? new Error() : null;
}
