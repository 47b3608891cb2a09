// Logging and tracing with grpc-js's switches, so that the environment a user
// already sets for grpc-js (GRPC_VERBOSITY, GRPC_TRACE, or their GRPC_NODE_
// forms) and a logger installed with setLogger keep working after the switch.
// Tracing is decided once at load: a disabled tracer costs one Set lookup,
// and hot paths check `isTracerEnabled` before building a message.
import { pid } from 'node:process';
import { LogVerbosity } from './constants';
import { VERSION } from './version';

/** The parts of `console` a logger may provide; missing levels fall back to `error`. */
export type Logger = Partial<Pick<Console, 'error' | 'info' | 'debug'>>;

// grpc-js prefixes the level so that one stream (stderr) stays readable.
const DEFAULT_LOGGER: Logger = {
  error: (message?: unknown, ...rest: unknown[]) => console.error('E ' + message, ...rest),
  info: (message?: unknown, ...rest: unknown[]) => console.error('I ' + message, ...rest),
  debug: (message?: unknown, ...rest: unknown[]) => console.error('D ' + message, ...rest),
};

let logger: Logger = DEFAULT_LOGGER;
let verbosity = parseVerbosity(process.env.GRPC_NODE_VERBOSITY ?? process.env.GRPC_VERBOSITY);

function parseVerbosity(value: string | undefined): LogVerbosity {
  switch ((value ?? '').toUpperCase()) {
    case 'DEBUG':
      return LogVerbosity.DEBUG;
    case 'INFO':
      return LogVerbosity.INFO;
    case 'NONE':
      return LogVerbosity.NONE;
    default:
      // grpc-js ignores values it does not know and keeps ERROR.
      return LogVerbosity.ERROR;
  }
}

const enabledTracers = new Set<string>();
const disabledTracers = new Set<string>();
for (const name of (process.env.GRPC_NODE_TRACE ?? process.env.GRPC_TRACE ?? '').split(',')) {
  const tracer = name.trim();
  if (tracer.length === 0) continue;
  if (tracer.startsWith('-')) disabledTracers.add(tracer.slice(1));
  else enabledTracers.add(tracer);
}
const allEnabled = enabledTracers.has('all');
const anyEnabled = allEnabled || enabledTracers.size > 0;

/**
 * Replaces the logger gRPC messages go to (default: `console.error` with a
 * level prefix); same as grpc-js's `setLogger`.
 * @param newLogger An object with `error` and optionally `info` and `debug`.
 */
export function setLogger(newLogger: Logger): void {
  logger = newLogger;
}

/** The logger messages go to now. */
export function getLogger(): Logger {
  return logger;
}

/**
 * Sets the lowest severity that is logged; same as grpc-js's `setLogVerbosity`.
 * @param newVerbosity A {@link LogVerbosity}; `NONE` silences all logging.
 */
export function setLogVerbosity(newVerbosity: LogVerbosity): void {
  verbosity = newVerbosity;
}

/**
 * Logs `args` at `severity` if the verbosity lets it through.
 * @param severity The message's severity.
 * @param args What to log, as for `console.error`.
 */
export function log(severity: LogVerbosity, ...args: unknown[]): void {
  if (severity < verbosity) return;
  let fn: ((...a: unknown[]) => void) | undefined;
  if (severity === LogVerbosity.DEBUG) fn = logger.debug;
  else if (severity === LogVerbosity.INFO) fn = logger.info;
  // Older loggers only have `error`; grpc-js sends everything there then.
  fn ??= logger.error;
  fn?.apply(logger, args);
}

/**
 * Whether `GRPC_TRACE` enables `tracer` (`all` enables every tracer; a
 * `-name` entry disables one).
 * @param tracer A tracer name such as `channel` or `subchannel`.
 */
export function isTracerEnabled(tracer: string): boolean {
  if (!anyEnabled) return false;
  return !disabledTracers.has(tracer) && (allEnabled || enabledTracers.has(tracer));
}

/**
 * Logs `text` for `tracer` if that tracer is enabled, in grpc-js's format
 * (`<ISO time> | v<version> <pid> | <tracer> | <text>`).
 * @param severity The message's severity.
 * @param tracer The tracer name.
 * @param text The message.
 */
export function trace(severity: LogVerbosity, tracer: string, text: string): void {
  if (!isTracerEnabled(tracer)) return;
  log(severity, `${new Date().toISOString()} | v${VERSION} ${pid} | ${tracer} | ${text}`);
}
