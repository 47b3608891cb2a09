// Decodes one batch of native completions (the format is documented in
// crates/h2grpc-napi/src/lib.rs and ARCHITECTURE.md) and hands each event to
// a sink, in order. Knows the wire layout and nothing of calls or
// connections.
import { Metadata } from '../metadata';

/** Where decoded events go; the native transport routes them by id. */
export interface BatchSink {
  ready(conn: number): void;
  goAway(conn: number, code: number, lastStreamId: number, debug: Buffer): void;
  closed(conn: number, reason: string): void;
  peerCertificate(conn: number, der: Buffer): void;
  headers(stream: number, metadata: Metadata): void;
  message(stream: number, message: Buffer): void;
  writeAck(stream: number): void;
  status(stream: number, code: number, details: string, trailers: Metadata): void;
}

/** Record kinds; the numbers are the binding's. */
const enum Kind {
  Ready = 1,
  GoAway = 2,
  Closed = 3,
  Headers = 4,
  Message = 5,
  MessageExternal = 6,
  WriteAck = 7,
  Status = 8,
  PeerCertificate = 9,
  Segment = 10,
}

/**
 * Dispatches every event of `batch` (`[control, ...external]`) to `sink`. An
 * exception from the sink (a user callback that threw) does not stop the
 * batch: every other call still gets its completions, and the first
 * exception is rethrown at the end.
 */
export function decodeBatch(batch: Buffer[], sink: BatchSink): void {
  const buf = batch[0];
  const end = buf.length;
  let pos = 0;
  let segment = buf;
  let segmentOffset = 0;
  let pendingError: unknown;
  let hasError = false;
  while (pos < end) {
    const kind = buf[pos];
    const id = buf.readUInt32LE(pos + 1);
    pos += 5;
    try {
      switch (kind) {
        case Kind.Ready:
          sink.ready(id);
          break;
        case Kind.GoAway: {
          const code = buf.readUInt32LE(pos);
          const last = buf.readUInt32LE(pos + 4);
          const len = buf.readUInt32LE(pos + 8);
          const debug = buf.subarray(pos + 12, pos + 12 + len);
          pos += 12 + len;
          sink.goAway(id, code, last, debug);
          break;
        }
        case Kind.Closed: {
          const len = buf.readUInt32LE(pos);
          const reason = buf.toString('utf8', pos + 4, pos + 4 + len);
          pos += 4 + len;
          sink.closed(id, reason);
          break;
        }
        case Kind.PeerCertificate: {
          const len = buf.readUInt32LE(pos);
          const der = buf.subarray(pos + 4, pos + 4 + len);
          pos += 4 + len;
          sink.peerCertificate(id, der);
          break;
        }
        case Kind.Headers: {
          const [metadata, next] = readMetadata(buf, pos);
          pos = next;
          sink.headers(id, metadata);
          break;
        }
        case Kind.Segment:
          // Small messages that follow are views into this Buffer (see
          // SEGMENT_SIZE in the binding): all that keeping one alive pins.
          segment = batch[id];
          segmentOffset = 0;
          break;
        case Kind.Message: {
          const len = buf.readUInt32LE(pos);
          pos += 4;
          const message = segment.subarray(segmentOffset, segmentOffset + len);
          segmentOffset += len;
          sink.message(id, message);
          break;
        }
        case Kind.MessageExternal: {
          const index = buf.readUInt32LE(pos);
          pos += 4;
          sink.message(id, batch[index]);
          break;
        }
        case Kind.WriteAck:
          sink.writeAck(id);
          break;
        case Kind.Status: {
          const code = buf.readUInt32LE(pos);
          const len = buf.readUInt32LE(pos + 4);
          const details = buf.toString('utf8', pos + 8, pos + 8 + len);
          const [trailers, next] = readMetadata(buf, pos + 8 + len);
          pos = next;
          sink.status(id, code, details, trailers);
          break;
        }
        default:
          // Only a version mismatch between the JS and native halves gets here.
          throw new Error(`h2grpc: unknown native event kind ${kind}; reinstall h2grpc`);
      }
    } catch (e) {
      if (!hasError) {
        hasError = true;
        pendingError = e;
      }
    }
  }
  if (hasError) throw pendingError;
}

function readMetadata(buf: Buffer, pos: number): [Metadata, number] {
  const count = buf.readUInt32LE(pos);
  pos += 4;
  if (count === 0) return [new Metadata(), pos];
  const pairs: string[] = new Array<string>(count * 2);
  for (let i = 0; i < count * 2; i++) {
    const len = buf.readUInt32LE(pos);
    pairs[i] = buf.toString('latin1', pos + 4, pos + 4 + len);
    pos += 4 + len;
  }
  return [Metadata.fromWire(pairs), pos];
}
