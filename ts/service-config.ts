// Service configs: the per-target JSON that chooses the load-balancing
// policy and sets per-method timeouts, wait-for-ready, message limits and
// retry/hedging policies. Validation follows gRPC's service_config.md, gRFC
// A2 (choices in DNS TXT records), A6 (retries) and A21 (loadBalancingConfig).
// Input is untrusted JSON (a channel option or a DNS record), so every field
// is checked and a bad config is rejected as a whole with a message naming
// the field, rather than being half-applied.
import { hostname } from 'node:os';
// From the balancer index, which registers the built-in policies on load:
// whether a policy is supported is part of a config's validity.
import { isLoadBalancerNameRegistered, selectLbConfigFromList } from './balancer/index';
import { Status } from './constants';
import { isDuration, parseDuration, type Duration } from './duration';

/**
 * Which methods a {@link MethodConfig} applies to. Both fields set: one
 * method; only `service`: every method of the service; neither: every method
 * (the default config). An empty string counts as unset.
 */
export interface MethodConfigName {
  service?: string;
  method?: string;
}

/** Retry policy of a method (gRFC A6). */
export interface RetryPolicy {
  /** Attempts including the first, 2 to 5 (larger values are capped to 5). */
  maxAttempts: number;
  /** Backoff before the first retry, as a duration string (`"0.1s"`). */
  initialBackoff: string;
  /** Upper bound on the backoff, as a duration string. */
  maxBackoff: string;
  /** Factor applied to the backoff after each retry. */
  backoffMultiplier: number;
  /** Status codes that make a call retryable. */
  retryableStatusCodes: Status[];
}

/** Hedging policy of a method (gRFC A6). */
export interface HedgingPolicy {
  /** Attempts including the first, 2 to 5 (larger values are capped to 5). */
  maxAttempts: number;
  /** Delay between hedged attempts, as a duration string; none means all at once. */
  hedgingDelay?: string;
  /** Status codes that do not cancel the other hedged attempts. */
  nonFatalStatusCodes?: Status[];
}

/** Settings for the methods named in `name`. */
export interface MethodConfig {
  /** The methods (or whole services, or all) this entry applies to. */
  name: MethodConfigName[];
  /** Default wait-for-ready flag for calls. */
  waitForReady?: boolean;
  /** Default (maximum) deadline, relative to the start of the call. */
  timeout?: Duration;
  /** Limit on a sent message, in bytes. */
  maxRequestMessageBytes?: number;
  /** Limit on a received message, in bytes. */
  maxResponseMessageBytes?: number;
  /** Retries; exclusive with `hedgingPolicy`. */
  retryPolicy?: RetryPolicy;
  /** Hedging; exclusive with `retryPolicy`. */
  hedgingPolicy?: HedgingPolicy;
}

/** Token-bucket throttling of retries and hedges across a channel (gRFC A6). */
export interface RetryThrottling {
  /** Bucket size, in (0, 1000]. */
  maxTokens: number;
  /** Tokens regained per successful call, > 0, at most 3 decimals. */
  tokenRatio: number;
}

/**
 * One `loadBalancingConfig` entry: `{policy_name: policyConfig}`, exactly one
 * key. Parsed into a typed config by the balancer registry.
 */
export interface LoadBalancingConfig {
  [policyName: string]: object;
}

/** A validated service config. */
export interface ServiceConfig {
  /** Deprecated policy name, lowercased; `loadBalancingConfig` takes precedence. */
  loadBalancingPolicy?: string;
  /** Policies in order of preference; the first one supported is used. */
  loadBalancingConfig: LoadBalancingConfig[];
  /** Per-method settings; the first entry whose `name` matches a call applies. */
  methodConfig: MethodConfig[];
  /** Retry throttling for the channel (gRFC A6). */
  retryThrottling?: RetryThrottling;
}

/** One choice of a DNS TXT `grpc_config` record (gRFC A2). */
export interface ServiceConfigCanaryConfig {
  /** Languages the choice applies to, case-insensitive; absent: all. */
  clientLanguage?: string[];
  /** Share of clients, 0–100, that use the choice; absent: all. */
  percentage?: number;
  /** Host names the choice applies to; absent: all. */
  clientHostname?: string[];
  serviceConfig: ServiceConfig;
}

/** The language name this client matches in a choice's `clientLanguage`. */
const CLIENT_LANGUAGE = 'node';

/** A6: attempts beyond this are ignored rather than rejected. */
const MAX_ATTEMPTS_CAP = 5;

type JsonObject = Record<string, unknown>;

// Every validator reports the dotted path of the bad field, so that a
// failing config in a DNS record or channel option can be fixed from the
// error message alone.
function fail(path: string, message: string): never {
  throw new Error(`Invalid service config: ${path}: ${message}`);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) fail(path, `expected an object, got ${describe(value)}`);
  return value;
}

function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, `expected an array, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}

// An empty string and an absent field mean the same in method names.
function optionalName(value: unknown, path: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') fail(path, `expected a string, got ${describe(value)}`);
  return value;
}

function validateName(raw: unknown, path: string): MethodConfigName {
  const obj = expectObject(raw, path);
  const service = optionalName(obj.service, `${path}.service`);
  const method = optionalName(obj.method, `${path}.method`);
  if (service === undefined) {
    if (method !== undefined) fail(`${path}.method`, 'a method requires a service');
    return {};
  }
  return method === undefined ? { service } : { service, method };
}

function validateDurationString(value: unknown, path: string, allowZero: boolean): string {
  const duration = typeof value === 'string' ? parseDuration(value) : null;
  if (duration === null) {
    fail(path, `expected a duration string like "1.5s", got ${describe(value)}`);
  }
  if (!allowZero && duration.seconds === 0 && duration.nanos === 0) {
    fail(path, 'must be greater than 0');
  }
  return value as string;
}

function validateTimeout(value: unknown, path: string): Duration {
  // The object form is what grpc-js accepts when a config is built in code
  // rather than parsed from JSON.
  if (isDuration(value)) {
    if (value.seconds < 0 || value.nanos < 0) fail(path, 'must not be negative');
    return { seconds: value.seconds, nanos: value.nanos };
  }
  const duration = typeof value === 'string' ? parseDuration(value) : null;
  if (duration === null) {
    fail(path, `expected a duration string like "1.5s", got ${describe(value)}`);
  }
  return duration;
}

// uint64 fields: protobuf's JSON mapping writes them as strings, but numbers
// are accepted too.
function validateByteLimit(value: unknown, path: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  fail(path, `expected a non-negative integer or numeric string, got ${describe(value)}`);
}

function validateMaxAttempts(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2) {
    fail(path, `expected an integer of at least 2, got ${describe(value)}`);
  }
  return Math.min(value, MAX_ATTEMPTS_CAP);
}

function validateStatusCode(value: unknown, path: string): Status {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && Status[value] !== undefined) return value as Status;
    fail(path, `${value} is not a status code`);
  }
  if (typeof value === 'string') {
    const code = (Status as unknown as Record<string, Status | undefined>)[value.toUpperCase()];
    if (typeof code === 'number') return code;
    fail(path, `${JSON.stringify(value)} is not a status code name`);
  }
  fail(path, `expected a status code name or number, got ${describe(value)}`);
}

function validateStatusCodes(value: unknown, path: string): Status[] {
  return expectArray(value, path).map((code, i) => validateStatusCode(code, `${path}[${i}]`));
}

function validateRetryPolicy(raw: unknown, path: string): RetryPolicy {
  const obj = expectObject(raw, path);
  const maxAttempts = validateMaxAttempts(obj.maxAttempts, `${path}.maxAttempts`);
  const initialBackoff = validateDurationString(
    obj.initialBackoff,
    `${path}.initialBackoff`,
    false,
  );
  const maxBackoff = validateDurationString(obj.maxBackoff, `${path}.maxBackoff`, false);
  const backoffMultiplier = obj.backoffMultiplier;
  if (typeof backoffMultiplier !== 'number' || !(backoffMultiplier > 0)) {
    fail(`${path}.backoffMultiplier`, `expected a number > 0, got ${describe(backoffMultiplier)}`);
  }
  if (obj.retryableStatusCodes === undefined) fail(`${path}.retryableStatusCodes`, 'is required');
  const retryableStatusCodes = validateStatusCodes(
    obj.retryableStatusCodes,
    `${path}.retryableStatusCodes`,
  );
  if (retryableStatusCodes.length === 0) {
    fail(`${path}.retryableStatusCodes`, 'must not be empty');
  }
  return { maxAttempts, initialBackoff, maxBackoff, backoffMultiplier, retryableStatusCodes };
}

function validateHedgingPolicy(raw: unknown, path: string): HedgingPolicy {
  const obj = expectObject(raw, path);
  const result: HedgingPolicy = {
    maxAttempts: validateMaxAttempts(obj.maxAttempts, `${path}.maxAttempts`),
  };
  if (obj.hedgingDelay !== undefined) {
    result.hedgingDelay = validateDurationString(obj.hedgingDelay, `${path}.hedgingDelay`, true);
  }
  if (obj.nonFatalStatusCodes !== undefined) {
    result.nonFatalStatusCodes = validateStatusCodes(
      obj.nonFatalStatusCodes,
      `${path}.nonFatalStatusCodes`,
    );
  }
  return result;
}

// grpc-js spells the limits maxRequestBytes/maxResponseBytes; configs
// written for it are accepted, the spec names win when both are present.
function byteLimitField(obj: JsonObject, specName: string, grpcJsName: string): [unknown, string] {
  return obj[specName] !== undefined ? [obj[specName], specName] : [obj[grpcJsName], grpcJsName];
}

function validateMethodConfig(raw: unknown, path: string): MethodConfig {
  const obj = expectObject(raw, path);
  const names = expectArray(obj.name, `${path}.name`);
  const result: MethodConfig = {
    name: names.map((name, i) => validateName(name, `${path}.name[${i}]`)),
  };
  if (obj.waitForReady !== undefined) {
    if (typeof obj.waitForReady !== 'boolean') {
      fail(`${path}.waitForReady`, `expected a boolean, got ${describe(obj.waitForReady)}`);
    }
    result.waitForReady = obj.waitForReady;
  }
  if (obj.timeout !== undefined) {
    result.timeout = validateTimeout(obj.timeout, `${path}.timeout`);
  }
  const [request, requestName] = byteLimitField(obj, 'maxRequestMessageBytes', 'maxRequestBytes');
  if (request !== undefined) {
    result.maxRequestMessageBytes = validateByteLimit(request, `${path}.${requestName}`);
  }
  const [response, responseName] = byteLimitField(
    obj,
    'maxResponseMessageBytes',
    'maxResponseBytes',
  );
  if (response !== undefined) {
    result.maxResponseMessageBytes = validateByteLimit(response, `${path}.${responseName}`);
  }
  if (obj.retryPolicy !== undefined && obj.hedgingPolicy !== undefined) {
    fail(path, 'retryPolicy and hedgingPolicy cannot both be set');
  }
  if (obj.retryPolicy !== undefined) {
    result.retryPolicy = validateRetryPolicy(obj.retryPolicy, `${path}.retryPolicy`);
  }
  if (obj.hedgingPolicy !== undefined) {
    result.hedgingPolicy = validateHedgingPolicy(obj.hedgingPolicy, `${path}.hedgingPolicy`);
  }
  return result;
}

function validateRetryThrottlingAt(raw: unknown, path: string): RetryThrottling {
  const obj = expectObject(raw, path);
  const { maxTokens, tokenRatio } = obj;
  if (typeof maxTokens !== 'number' || !(maxTokens > 0 && maxTokens <= 1000)) {
    fail(`${path}.maxTokens`, `expected a number in (0, 1000], got ${describe(maxTokens)}`);
  }
  if (typeof tokenRatio !== 'number' || !(tokenRatio > 0)) {
    fail(`${path}.tokenRatio`, `expected a number > 0, got ${describe(tokenRatio)}`);
  }
  // A6: token arithmetic uses 3 decimal places; more precision is dropped.
  return { maxTokens: +maxTokens.toFixed(3), tokenRatio: +tokenRatio.toFixed(3) };
}

/**
 * Validates a `retryThrottling` object (gRFC A6).
 * @param obj The parsed JSON.
 * @throws Error naming the invalid field.
 */
export function validateRetryThrottling(obj: unknown): RetryThrottling {
  return validateRetryThrottlingAt(obj, 'retryThrottling');
}

function validateLoadBalancingConfig(raw: unknown, path: string): LoadBalancingConfig {
  const obj = expectObject(raw, path);
  const keys = Object.keys(obj);
  if (keys.length !== 1) {
    fail(path, `expected exactly one policy name, got ${keys.length} (${keys.join(', ')})`);
  }
  const name = keys[0];
  return { [name]: expectObject(obj[name], `${path}.${name}`) };
}

function nameKey(name: MethodConfigName): string {
  return `${name.service ?? ''}/${name.method ?? ''}`;
}

// `base` prefixes every reported path, so that a config nested in a DNS
// choice is reported as `choice[1].serviceConfig.methodConfig[0]...`.
function validateServiceConfigAt(obj: unknown, base: string): ServiceConfig {
  const raw = expectObject(obj, base === '' ? 'service config' : base.slice(0, -1));
  const result: ServiceConfig = { loadBalancingConfig: [], methodConfig: [] };
  if (raw.loadBalancingPolicy !== undefined) {
    if (typeof raw.loadBalancingPolicy !== 'string') {
      fail(
        `${base}loadBalancingPolicy`,
        `expected a string, got ${describe(raw.loadBalancingPolicy)}`,
      );
    }
    result.loadBalancingPolicy = raw.loadBalancingPolicy.toLowerCase();
  }
  if (raw.loadBalancingConfig !== undefined) {
    const path = `${base}loadBalancingConfig`;
    result.loadBalancingConfig = expectArray(raw.loadBalancingConfig, path).map((config, i) =>
      validateLoadBalancingConfig(config, `${path}[${i}]`),
    );
  }
  // service_config.proto: a list in which this client supports no policy
  // makes the config invalid (rather than silently falling back to the
  // default policy), and so does an unknown deprecated policy name.
  if (result.loadBalancingConfig.length > 0) {
    if (selectLbConfigFromList(result.loadBalancingConfig) === null) {
      const names = result.loadBalancingConfig.map((config) => Object.keys(config)[0]).join(', ');
      fail(`${base}loadBalancingConfig`, `no supported and valid policy among ${names}`);
    }
  } else if (
    result.loadBalancingPolicy !== undefined &&
    !isLoadBalancerNameRegistered(result.loadBalancingPolicy)
  ) {
    fail(`${base}loadBalancingPolicy`, `unknown policy ${result.loadBalancingPolicy}`);
  }
  if (raw.methodConfig !== undefined) {
    const path = `${base}methodConfig`;
    result.methodConfig = expectArray(raw.methodConfig, path).map((config, i) =>
      validateMethodConfig(config, `${path}[${i}]`),
    );
  }
  if (raw.retryThrottling !== undefined) {
    result.retryThrottling = validateRetryThrottlingAt(
      raw.retryThrottling,
      `${base}retryThrottling`,
    );
  }
  // A name in two method configs would make the lookup ambiguous.
  const seen = new Set<string>();
  result.methodConfig.forEach((config, i) => {
    for (const name of config.name) {
      const key = nameKey(name);
      if (seen.has(key)) fail(`${base}methodConfig[${i}].name`, `duplicate name ${key}`);
      seen.add(key);
    }
  });
  return result;
}

/**
 * Validates a parsed service config and returns it in normalized form
 * (policy name lowercased, timeouts as {@link Duration}, status codes as
 * numbers, byte limits as numbers, maxAttempts capped at 5). Unknown fields
 * are ignored, as the spec requires for forward compatibility.
 * @param obj The parsed JSON.
 * @throws Error naming the invalid field, e.g.
 *   `Invalid service config: methodConfig[0].timeout: expected a duration string like "1.5s", got "1.5"`.
 */
export function validateServiceConfig(obj: unknown): ServiceConfig {
  return validateServiceConfigAt(obj, '');
}

/**
 * The `loadBalancingConfig` list to select a policy from: the config's own
 * list if it has one, else the deprecated `loadBalancingPolicy` as a
 * one-entry list, else empty (the channel's default policy).
 * @param serviceConfig A validated service config.
 */
export function getLoadBalancingConfigList(serviceConfig: ServiceConfig): LoadBalancingConfig[] {
  if (serviceConfig.loadBalancingConfig.length > 0) return serviceConfig.loadBalancingConfig;
  if (serviceConfig.loadBalancingPolicy !== undefined) {
    return [{ [serviceConfig.loadBalancingPolicy]: {} }];
  }
  return [];
}

/**
 * The method config that applies to a call: the one naming the exact
 * service and method, else the one naming the whole service, else the
 * default (empty name), else none.
 * @param serviceConfig The channel's service config, if any.
 * @param methodPath The call's path, `/package.Service/Method`.
 */
export function getMethodConfig(
  serviceConfig: ServiceConfig | null | undefined,
  methodPath: string,
): MethodConfig | undefined {
  if (serviceConfig === null || serviceConfig === undefined) return undefined;
  const path = methodPath.startsWith('/') ? methodPath.slice(1) : methodPath;
  const slash = path.lastIndexOf('/');
  const service = slash < 0 ? path : path.slice(0, slash);
  const method = slash < 0 ? '' : path.slice(slash + 1);
  let serviceMatch: MethodConfig | undefined;
  let defaultMatch: MethodConfig | undefined;
  for (const config of serviceConfig.methodConfig) {
    for (const name of config.name) {
      if (name.service === undefined) {
        defaultMatch ??= config;
      } else if (name.service === service) {
        if (name.method === undefined) serviceMatch ??= config;
        else if (name.method === method) return config;
      }
    }
  }
  return serviceMatch ?? defaultMatch;
}

function validateStringList(value: unknown, path: string): string[] {
  return expectArray(value, path).map((item, i) => {
    if (typeof item !== 'string') fail(`${path}[${i}]`, `expected a string, got ${describe(item)}`);
    return item;
  });
}

const CHOICE_FIELDS = new Set(['clientLanguage', 'percentage', 'clientHostname', 'serviceConfig']);

function validateChoice(raw: unknown, path: string): ServiceConfigCanaryConfig {
  const obj = expectObject(raw, path);
  // A2: an unknown field invalidates the record, since a field this client
  // does not understand may be a criterion it would wrongly ignore.
  for (const key of Object.keys(obj)) {
    if (!CHOICE_FIELDS.has(key)) fail(path, `unexpected field ${key}`);
  }
  if (obj.serviceConfig === undefined) fail(`${path}.serviceConfig`, 'is required');
  const result: ServiceConfigCanaryConfig = {
    serviceConfig: validateServiceConfigAt(obj.serviceConfig, `${path}.serviceConfig.`),
  };
  if (obj.clientLanguage !== undefined) {
    result.clientLanguage = validateStringList(obj.clientLanguage, `${path}.clientLanguage`);
  }
  if (obj.clientHostname !== undefined) {
    result.clientHostname = validateStringList(obj.clientHostname, `${path}.clientHostname`);
  }
  if (obj.percentage !== undefined) {
    const { percentage } = obj;
    if (
      typeof percentage !== 'number' ||
      !Number.isInteger(percentage) ||
      percentage < 0 ||
      percentage > 100
    ) {
      fail(`${path}.percentage`, `expected an integer from 0 to 100, got ${describe(percentage)}`);
    }
    result.percentage = percentage;
  }
  return result;
}

// Absent or empty criteria match every client (A2).
function choiceMatches(choice: ServiceConfigCanaryConfig, percentage: number): boolean {
  if (choice.percentage !== undefined && !(percentage < choice.percentage)) return false;
  const languages = choice.clientLanguage ?? [];
  if (
    languages.length > 0 &&
    !languages.some((language) => language.toLowerCase() === CLIENT_LANGUAGE)
  ) {
    return false;
  }
  const hosts = choice.clientHostname ?? [];
  if (hosts.length > 0 && !hosts.includes(hostname())) return false;
  return true;
}

/**
 * Picks the service config for this client from a DNS TXT `grpc_config`
 * value (gRFC A2): a JSON list of choices whose criteria (`clientLanguage`,
 * `percentage`, `clientHostname`) must all match; the first match wins. The
 * whole value is validated, so an invalid later choice is an error too.
 * @param txtRecordJson The value after `grpc_config=`, as JSON text or
 *   already parsed.
 * @param percentage This client's draw in [0, 100); a choice with
 *   `percentage: p` matches when the draw is below `p`. Random by default.
 * @returns The chosen config, or null when no choice matches (then the
 *   client uses no service config from DNS).
 * @throws Error when the JSON or any choice is invalid.
 */
export function chooseServiceConfig(
  txtRecordJson: unknown,
  percentage: number = Math.floor(Math.random() * 100),
): ServiceConfig | null {
  let parsed = txtRecordJson;
  if (typeof txtRecordJson === 'string') {
    try {
      parsed = JSON.parse(txtRecordJson);
    } catch (e) {
      throw new Error(
        `Invalid service config choice list: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  const choices = expectArray(parsed, 'choice list').map((choice, i) =>
    validateChoice(choice, `choice[${i}]`),
  );
  return choices.find((choice) => choiceMatches(choice, percentage))?.serviceConfig ?? null;
}

const TXT_PREFIX = 'grpc_config=';

/**
 * grpc-js's entry point for DNS: finds the `grpc_config=` record among the
 * TXT records (`dns.resolveTxt` output, each record a list of strings to
 * concatenate) and chooses a config from it with {@link chooseServiceConfig}.
 * @param txtRecord The TXT records of the name.
 * @param percentage This client's draw in [0, 100).
 * @returns The chosen config, or null when there is no `grpc_config` record
 *   or no choice matches.
 * @throws Error when the record is invalid.
 */
export function extractAndSelectServiceConfig(
  txtRecord: string[][],
  percentage: number,
): ServiceConfig | null {
  for (const record of txtRecord) {
    const text = record.join('');
    if (text.startsWith(TXT_PREFIX)) {
      return chooseServiceConfig(text.slice(TXT_PREFIX.length), percentage);
    }
  }
  return null;
}
