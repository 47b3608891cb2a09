// The modern client API end to end: every call kind, cancellation with an
// AbortSignal, a timeout, response metadata and errors. Starts its own
// @grpc/grpc-js server for examples/modern.proto on loopback.
//
//   node --import tsx examples/modern.ts
//
// Outside this repository, import from 'h2grpc' instead of '../ts/index'.
// The types in ./modern-generated come from proto-loader-gen-types (the
// command is in examples/modern.proto); `createClient` infers everything
// from the generated `ProtoGrpcType`.
import * as path from 'node:path';
import * as grpcJs from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createClient, GrpcError, loadPackageDefinition, status } from '../ts/index';
import type { ProtoGrpcType } from './modern-generated/modern';
import type { EchoHandlers } from './modern-generated/modern/example/Echo';
import type { EchoRequest__Output } from './modern-generated/modern/example/EchoRequest';

const LOADER_OPTIONS: protoLoader.Options = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The Echo service, served by @grpc/grpc-js. `text: "fail"` answers NOT_FOUND. */
const handlers: EchoHandlers = {
  Say(call, callback) {
    if (call.request.text === 'fail') {
      callback({ code: status.NOT_FOUND, details: 'nothing called "fail" here' });
      return;
    }
    const header = new grpcJs.Metadata();
    header.set('x-served-by', 'example');
    call.sendMetadata(header);
    const trailer = new grpcJs.Metadata();
    trailer.set('x-request-text-length', String(call.request.text.length));
    callback(null, { text: `you said ${call.request.text}` }, trailer);
  },
  async Countdown(call) {
    for (let i = call.request.count; i > 0 && !call.cancelled; i--) {
      call.write({ text: call.request.text, index: i });
      await sleep(20);
    }
    call.end();
  },
  Collect(call, callback) {
    const texts: string[] = [];
    call.on('data', (request: EchoRequest__Output) => texts.push(request.text));
    call.on('end', () => callback(null, { text: texts.join(' ') }));
  },
  Chat(call) {
    let index = 0;
    call.on('data', (request: EchoRequest__Output) => {
      call.write({ text: request.text.toUpperCase(), index: index++ });
    });
    call.on('end', () => call.end());
  },
};

async function startServer(): Promise<{ target: string; server: grpcJs.Server }> {
  const definition = protoLoader.loadSync(path.join(__dirname, 'modern.proto'), LOADER_OPTIONS);
  const proto = grpcJs.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  const server = new grpcJs.Server();
  server.addService(proto.modern.example.Echo.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { target: `127.0.0.1:${port}`, server };
}

async function* words(): AsyncGenerator<{ text: string }> {
  for (const text of ['streams', 'from', 'a', 'generator']) {
    await sleep(5);
    yield { text };
  }
}

/** Runs every example call against `target`; returns what it printed through `log`. */
export async function runExample(
  target: string,
  log: (line: string) => void = console.log,
): Promise<string[]> {
  const lines: string[] = [];
  const print = (line: string): void => {
    lines.push(line);
    log(line);
  };
  const definition = protoLoader.loadSync(path.join(__dirname, 'modern.proto'), LOADER_OPTIONS);
  const proto = loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  // Types come from the generated constructor type: requests, responses and kinds.
  const echo = createClient(proto.modern.example.Echo, target);
  try {
    // Unary: a promise. Metadata as a plain object; headers and trailers through hooks.
    const reply = await echo.say(
      { text: 'hello' },
      {
        metadata: { 'x-request-id': '42' },
        timeout: 5000,
        onHeader: (header) => print(`say header x-served-by=${header.get('x-served-by')}`),
        onTrailer: (trailer) =>
          print(`say trailer x-request-text-length=${trailer.get('x-request-text-length')}`),
      },
    );
    print(`say: ${reply.text}`);

    // Server streaming: an async iterable.
    const countdown: number[] = [];
    for await (const part of echo.countdown({ text: 'tick', count: 3 })) countdown.push(part.index);
    print(`countdown: ${countdown.join(' ')}`);

    // Leaving the loop early cancels the call on the server.
    for await (const part of echo.countdown({ text: 'long', count: 1000 })) {
      print(`first of a long countdown: ${part.index}, then break`);
      break;
    }

    // Client streaming: requests from any (async) iterable, with backpressure.
    const collected = await echo.collect(words());
    print(`collect: ${collected.text}`);

    // Bidi, fed by hand: write (await it for backpressure), read, end.
    const chat = echo.chat();
    await chat.write({ text: 'ping' });
    const pong = await chat.next();
    print(`chat: ${pong.done ? '(ended)' : pong.value.text}`);
    chat.end();
    for await (const rest of chat) print(`chat (late): ${rest.text}`);

    // Bidi, fed from an iterable.
    const shouted: string[] = [];
    for await (const r of echo.chat(['a', 'b', 'c'].map((text) => ({ text })))) {
      shouted.push(r.text);
    }
    print(`chat from an iterable: ${shouted.join('')}`);

    // Errors are GrpcError (a grpc-js ServiceError look-alike).
    try {
      await echo.say({ text: 'fail' });
    } catch (error) {
      if (error instanceof GrpcError && error.code === status.NOT_FOUND) {
        print(`say failed: ${error.message}`);
      } else {
        throw error;
      }
    }

    // Cancellation: an AbortSignal; the reason is the error's cause.
    const controller = new AbortController();
    const slow = echo.countdown({ text: 'slow', count: 1000 }, { signal: controller.signal });
    try {
      for await (const part of slow) {
        if (part.index === 998) controller.abort(new Error('seen enough'));
      }
    } catch (error) {
      if (!(error instanceof GrpcError)) throw error;
      print(`aborted: ${error.code === status.CANCELLED} cause=${(error.cause as Error).message}`);
    }
  } finally {
    echo.$close();
  }
  return lines;
}

if (require.main === module) {
  void (async () => {
    const { target, server } = await startServer();
    try {
      await runExample(target);
    } finally {
      server.forceShutdown();
    }
  })().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

export { startServer };
