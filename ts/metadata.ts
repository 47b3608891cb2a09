// Request and response metadata, API-compatible with @grpc/grpc-js's
// `Metadata`. The transport reads `internalRepr` directly when it encodes
// headers and builds incoming metadata with `fromWire`, so neither path pays
// for the validation that user-facing `set`/`add` perform.

import { LogVerbosity } from './constants';
import { log } from './logging';

/** A metadata value: a string for ordinary keys, a Buffer for keys ending in `-bin`. */
export type MetadataValue = string | Buffer;

/** Per-call flags carried alongside metadata; same fields as `@grpc/grpc-js`. */
export interface MetadataOptions {
  /** The request is idempotent and may be retried. */
  idempotentRequest?: boolean;
  /** Wait for the channel to become ready instead of failing fast. */
  waitForReady?: boolean;
  /** The request may be answered from a cache. */
  cacheableRequest?: boolean;
  /** Hold the request headers until the first message is sent. */
  corked?: boolean;
}

// HTTP/2 header names are lowercase; ':' is allowed so that the regex matches
// grpc-js exactly, even though pseudo-headers never become metadata.
const LEGAL_KEY = /^[:0-9a-z_.-]+$/;
// Printable ASCII, space included: what HTTP/2 lets through unencoded.
const LEGAL_NON_BINARY_VALUE = /^[ -~]*$/;

function headerValue(value: MetadataValue): string {
  return Buffer.isBuffer(value) ? value.toString('base64') : value;
}

function isBinaryKey(key: string): boolean {
  return key.endsWith('-bin');
}

// Throws with grpc-js's exact messages, since users match on them.
function validate(key: string, value?: MetadataValue): void {
  if (!LEGAL_KEY.test(key)) {
    throw new Error('Metadata key "' + key + '" contains illegal characters');
  }
  if (value === null || value === undefined) {
    return;
  }
  if (isBinaryKey(key)) {
    if (!Buffer.isBuffer(value)) {
      throw new Error("keys that end with '-bin' must have Buffer values");
    }
  } else {
    if (Buffer.isBuffer(value)) {
      throw new Error("keys that don't end with '-bin' must have String values");
    }
    if (!LEGAL_NON_BINARY_VALUE.test(value)) {
      throw new Error('Metadata string value "' + value + '" contains illegal characters');
    }
  }
}

function copyValue(value: MetadataValue): MetadataValue {
  return Buffer.isBuffer(value) ? Buffer.from(value) : value;
}

/**
 * A multimap of gRPC metadata (HTTP/2 headers or trailers). Keys are
 * normalized to lowercase; a key ending in `-bin` holds Buffer values, any
 * other key holds printable-ASCII string values.
 */
export class Metadata {
  /**
   * Key → values, in insertion order. Public only so the transport can encode
   * it without copying; users should go through the methods.
   * @internal
   */
  internalRepr: Map<string, MetadataValue[]> = new Map();

  private options: MetadataOptions;
  private opaqueData?: Map<string, unknown>;

  /** @param options Per-call flags; see {@link MetadataOptions}. */
  constructor(options: MetadataOptions = {}) {
    this.options = options;
  }

  /**
   * Replaces all values of `key` with `value`.
   * @param key Normalized to lowercase.
   * @param value A Buffer if and only if the key ends with `-bin`.
   * @throws Error if the key or value is not legal.
   */
  set(key: string, value: MetadataValue): void {
    key = key.toLowerCase();
    validate(key, value);
    this.internalRepr.set(key, [value]);
  }

  /**
   * Appends `value` to the values of `key`.
   * @param key Normalized to lowercase.
   * @param value A Buffer if and only if the key ends with `-bin`.
   * @throws Error if the key or value is not legal.
   */
  add(key: string, value: MetadataValue): void {
    key = key.toLowerCase();
    validate(key, value);
    const values = this.internalRepr.get(key);
    if (values === undefined) {
      this.internalRepr.set(key, [value]);
    } else {
      values.push(value);
    }
  }

  /**
   * Removes `key` and all its values.
   * @param key Normalized to lowercase.
   */
  remove(key: string): void {
    this.internalRepr.delete(key.toLowerCase());
  }

  /**
   * Returns the values of `key`, or an empty array if it has none.
   * @param key Normalized to lowercase.
   */
  get(key: string): MetadataValue[] {
    return this.internalRepr.get(key.toLowerCase()) ?? [];
  }

  /**
   * Returns a plain object mapping each key to its first value, which is how
   * most metadata is read. Buffers are copied.
   */
  getMap(): { [key: string]: MetadataValue } {
    const result: { [key: string]: MetadataValue } = {};
    for (const [key, values] of this.internalRepr) {
      if (values.length > 0) {
        result[key] = copyValue(values[0]);
      }
    }
    return result;
  }

  /** Returns a copy with copied Buffers; the options object is shared, as in grpc-js. */
  clone(): Metadata {
    const copy = new Metadata(this.options);
    for (const [key, values] of this.internalRepr) {
      copy.internalRepr.set(key, values.map(copyValue));
    }
    return copy;
  }

  /**
   * Adds every value of `other` to this object, after any values this object
   * already has for the same key.
   */
  merge(other: Metadata): void {
    for (const [key, values] of other.internalRepr) {
      const existing = this.internalRepr.get(key);
      this.internalRepr.set(key, existing === undefined ? values.slice() : existing.concat(values));
    }
  }

  /** Replaces the per-call flags. */
  setOptions(options: MetadataOptions): void {
    this.options = options;
  }

  /** Returns the per-call flags. */
  getOptions(): MetadataOptions {
    return this.options;
  }

  /**
   * The metadata as Node.js `http2` headers (binary values base64). A
   * grpc-js server (h2grpc's delegated `Server`) calls this on the metadata a
   * handler sends, which under an npm override of `@grpc/grpc-js` is an
   * h2grpc `Metadata`.
   */
  toHttp2Headers(): { [key: string]: string | string[] } {
    const result: { [key: string]: string | string[] } = {};
    for (const [key, values] of this.internalRepr) {
      if (key.startsWith(':')) continue;
      result[key] = values.length === 1 ? headerValue(values[0]) : values.map(headerValue);
    }
    return result;
  }

  /**
   * Builds metadata from Node.js `http2` headers (as grpc-js does): pseudo
   * headers are skipped, `-bin` values are base64-decoded (comma-joined
   * custom values split), and invalid entries are logged and skipped.
   * @param headers Incoming headers, e.g. from an `http2` stream.
   */
  static fromHttp2Headers(headers: { [key: string]: string | string[] | undefined }): Metadata {
    const result = new Metadata();
    for (const key of Object.keys(headers)) {
      if (key.charAt(0) === ':') continue;
      const values = headers[key];
      if (values === undefined) continue;
      try {
        if (isBinaryKey(key)) {
          const parts = Array.isArray(values)
            ? values
            : key.startsWith('grpc-')
              ? [values]
              : values.split(',').map((v) => v.trim());
          for (const part of parts) result.add(key, Buffer.from(part, 'base64'));
        } else {
          for (const value of Array.isArray(values) ? values : [values]) result.add(key, value);
        }
      } catch (error) {
        log(
          LogVerbosity.ERROR,
          `Failed to add metadata entry ${key}: ${String(values)}. ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
    }
    return result;
  }

  /** Makes `JSON.stringify` show keys mapped to their value arrays. */
  toJSON(): { [key: string]: MetadataValue[] } {
    const result: { [key: string]: MetadataValue[] } = {};
    for (const [key, values] of this.internalRepr) {
      result[key] = values;
    }
    return result;
  }

  /**
   * Attaches data that travels with this object but is never sent. Keys
   * starting with `grpc` are reserved.
   */
  setOpaque(key: string, value: unknown): void {
    if (this.opaqueData === undefined) {
      this.opaqueData = new Map();
    }
    this.opaqueData.set(key, value);
  }

  /** Returns data attached with {@link Metadata.setOpaque}. */
  getOpaque(key: string): unknown {
    return this.opaqueData?.get(key);
  }

  /**
   * Builds metadata from header fields as received off the wire.
   *
   * @param pairs A flat `[key, value, key, value, ...]` array. Keys are
   *   lowercase already; values of `-bin` keys are base64, padded or not.
   *   Pairs that are not legal metadata (pseudo-headers, illegal characters)
   *   are skipped: a peer's bad header must not fail the call.
   */
  static fromWire(pairs: string[]): Metadata {
    const result = new Metadata();
    const repr = result.internalRepr;
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const key = pairs[i];
      const raw = pairs[i + 1];
      if (key.charCodeAt(0) === 0x3a /* ':' */ || !LEGAL_KEY.test(key)) {
        continue;
      }
      let values: MetadataValue[];
      if (isBinaryKey(key)) {
        // A peer may join repeated fields with commas (RFC 9113 §8.2.3);
        // base64 never contains one, so splitting is safe.
        values =
          raw.indexOf(',') === -1
            ? [Buffer.from(raw, 'base64')]
            : raw.split(',').map((part) => Buffer.from(part.trim(), 'base64'));
      } else {
        if (!LEGAL_NON_BINARY_VALUE.test(raw)) {
          continue;
        }
        values = [raw];
      }
      const existing = repr.get(key);
      if (existing === undefined) {
        repr.set(key, values);
      } else {
        existing.push(...values);
      }
    }
    return result;
  }
}
