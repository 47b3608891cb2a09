// Request metadata crosses into Rust as one string, `key\0value\0...`: a
// single string conversion per call instead of an array of strings. Header
// names and values cannot contain NUL, so the separator is unambiguous.
import type { Metadata } from '../metadata';

/** Encodes custom metadata for `startCall`; `null` when there is none. */
export function encodeMetadata(metadata: Metadata): string | null {
  const repr = metadata.internalRepr;
  if (repr.size === 0) return null;
  let out = '';
  for (const [key, values] of repr) {
    for (const value of values) {
      const text = typeof value === 'string' ? value : value.toString('base64');
      out = out.length === 0 ? `${key}\0${text}` : `${out}\0${key}\0${text}`;
    }
  }
  return out.length === 0 ? null : out;
}
