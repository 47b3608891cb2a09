// A minimal authoritative DNS server on 127.0.0.1 (UDP) for testing targets
// that name their DNS server (`dns://127.0.0.1:port/host`) without leaving
// the machine. It answers A and AAAA from a table and nothing else.
import { createSocket, type Socket } from 'node:dgram';

const TYPE_A = 1;
const TYPE_AAAA = 28;

/** Records served: name → IPv4 and IPv6 addresses. */
export type Zone = Record<string, { a?: string[]; aaaa?: string[] }>;

function encodeIPv4(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function encodeIPv6(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(Number.parseInt(group, 16), i * 2));
  return out;
}

function answer(query: Buffer, zone: Zone): Buffer {
  // Question: labels from offset 12 up to a zero byte, then type and class.
  const labels: string[] = [];
  let offset = 12;
  while (query[offset] !== 0) {
    const length = query[offset];
    labels.push(query.toString('latin1', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  const questionEnd = offset + 5;
  const type = query.readUInt16BE(offset + 1);
  const entry = zone[labels.join('.').toLowerCase()];
  const rdata =
    entry === undefined
      ? []
      : type === TYPE_A
        ? (entry.a ?? []).map(encodeIPv4)
        : type === TYPE_AAAA
          ? (entry.aaaa ?? []).map(encodeIPv6)
          : [];
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  // QR, RD, RA; rcode 3 (NXDOMAIN) for unknown names, else 0 (maybe NODATA).
  header.writeUInt16BE(0x8180 | (entry === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdata.length, 6);
  const records = rdata.map((data) => {
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0); // name: pointer to the question's
    record.writeUInt16BE(type, 2);
    record.writeUInt16BE(1, 4); // class IN
    record.writeUInt32BE(60, 6); // TTL
    record.writeUInt16BE(data.length, 10);
    return Buffer.concat([record, data]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}

/** A running loopback DNS server. */
export interface LoopbackDnsServer {
  /** `127.0.0.1:port`, usable as a `dns://` target authority. */
  address: string;
  /** Number of queries received. */
  queries(): number;
  close(): Promise<void>;
}

/**
 * Starts a DNS server on 127.0.0.1 with an ephemeral port.
 * @param zone The names it knows (lowercase, no trailing dot).
 */
export async function startLoopbackDns(zone: Zone): Promise<LoopbackDnsServer> {
  const socket: Socket = createSocket('udp4');
  let count = 0;
  socket.on('message', (message, remote) => {
    count++;
    socket.send(answer(message, zone), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries: () => count,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
