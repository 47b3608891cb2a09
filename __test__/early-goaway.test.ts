// A server that answers every connection with a GOAWAY before the connection is
// ready (issue 11, item 5): the attempt failed, so the subchannel goes to
// TRANSIENT_FAILURE and waits out its backoff, as for a refused connection; it does
// not go IDLE and redial at once (which, with a call waiting, is a reconnect loop as
// fast as the server answers).
//
// Two lying peers: a raw TCP server whose first frame is a GOAWAY (before any
// SETTINGS), and a node:http2 server that sends GOAWAY together with its SETTINGS.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import test from 'ava';
import { recordStates, stateName } from './helpers/backends';
import { describeClient, grpc, isGrpcJs } from './helpers/fixture';

test.before((t) => {
  t.log(describeClient());
});

/** A GOAWAY frame: stream 0, last-stream-id 0, NO_ERROR. */
const GOAWAY = Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

interface Peer {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
}

async function listen(
  t: { teardown(fn: () => void): void },
  server: net.Server | http2.Http2Server,
): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** Writes a GOAWAY as soon as a client connects, before (instead of) any SETTINGS. */
async function goawayFirst(t: { teardown(fn: () => void): void }): Promise<Peer> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.write(GOAWAY);
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  return { port: await listen(t, server), connections: () => count };
}

/** An HTTP/2 server whose sessions send GOAWAY right after their SETTINGS. */
async function goawayWithSettings(t: { teardown(fn: () => void): void }): Promise<Peer> {
  let count = 0;
  const server = http2.createServer();
  server.on('session', (session) => {
    count++;
    session.on('error', () => {});
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
  });
  return { port: await listen(t, server), connections: () => count };
}

const id = (b: Buffer): Buffer => b;

/**
 * One wait-for-ready call with a 3 s deadline against the peer: its status, the
 * channel's states meanwhile, and how many connections the peer saw.
 */
async function callAgainst(
  t: { teardown(fn: () => void): void },
  peer: Peer,
): Promise<{ code: string; states: string[]; connections: number }> {
  const client = new grpc.Client(`127.0.0.1:${peer.port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const recorded = recordStates(client.getChannel());
  const code = await new Promise<string>((resolve) =>
    client.makeUnaryRequest(
      '/edge.E/Echo',
      id,
      id,
      Buffer.alloc(0),
      new grpc.Metadata({ waitForReady: true }),
      { deadline: Date.now() + 3000 },
      (err) => resolve(grpc.status[err?.code ?? grpc.status.OK]),
    ),
  );
  recorded.stop();
  return { code, states: recorded.states.map(stateName), connections: peer.connections() };
}

test('GOAWAY before SETTINGS: TRANSIENT_FAILURE and backoff, not an immediate redial', async (t) => {
  t.timeout(30_000);
  const peer = await goawayFirst(t);
  const { code, states, connections } = await callAgainst(t, peer);
  t.log(`states ${states.join(' → ')}; ${connections} connections in 3 s`);
  t.is(code, 'DEADLINE_EXCEEDED');
  t.true(states.includes('TRANSIENT_FAILURE'), states.join(' → '));
  t.false(states.includes('READY'), states.join(' → '));
  // The default backoff (1 s, ×1.6, ±20 %): at most 4 attempts in 3 s.
  t.true(connections >= 2 && connections <= 4, `${connections} connections`);
});

test('GOAWAY with the SETTINGS: TRANSIENT_FAILURE and backoff, not an immediate redial', async (t) => {
  t.timeout(30_000);
  const peer = await goawayWithSettings(t);
  const { code, states, connections } = await callAgainst(t, peer);
  t.log(`states ${states.join(' → ')}; ${connections} connections in 3 s`);
  if (isGrpcJs) {
    // grpc-js counts the connection READY on its SETTINGS and starts the call on it;
    // the GOAWAY refuses the stream, its transparent retry meets the same on the next
    // connection, and the wait-for-ready call fails UNAVAILABLE.
    t.is(code, 'UNAVAILABLE');
    t.true(states.includes('READY'), states.join(' → '));
    return;
  }
  // h2grpc: the native side reports the SETTINGS and the GOAWAY of one read in one
  // batch, and a READY only counts once its batch brought no GOAWAY.
  t.is(code, 'DEADLINE_EXCEEDED');
  t.true(states.includes('TRANSIENT_FAILURE'), states.join(' → '));
  t.false(states.includes('READY'), states.join(' → '));
  t.true(connections >= 2 && connections <= 4, `${connections} connections`);
});
