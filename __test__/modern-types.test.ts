// Typed modern clients. The compile-time half is checked by `tsc --noEmit`
// (which covers __test__): equalities and `@ts-expect-error` lines that stop
// compiling if the types get looser or wrong. The run-time half runs
// examples/modern.ts, whose types are proto-loader-gen-types output, against
// its own server.
import test from 'ava';
import {
  createClient,
  type BidiStream,
  type ModernClient,
  type ResponseStream,
  type ServerStreamingMethodDefinition,
  type UnaryMethodDefinition,
} from '../ts/index';
import { runExample, startServer } from '../examples/modern';
import type { ProtoGrpcType } from '../examples/modern-generated/modern';
import type { EchoClient, EchoDefinition } from '../examples/modern-generated/modern/example/Echo';
import type { EchoReply__Output } from '../examples/modern-generated/modern/example/EchoReply';
import type { EchoRequest } from '../examples/modern-generated/modern/example/EchoRequest';

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Compiles only when `T` is `true`. */
function assertType<T extends true>(): T | undefined {
  return undefined;
}

type EchoService = ProtoGrpcType['modern']['example']['Echo'];

// Never called: it only has to compile.
export function compileTimeChecks(echoCtor: EchoService, echoDef: EchoDefinition): void {
  // 1. The generated constructor type: everything inferred.
  const inferred = createClient(echoCtor, 'localhost:1');
  assertType<Equal<ReturnType<typeof inferred.say>, Promise<EchoReply__Output>>>();
  assertType<Equal<ReturnType<typeof inferred.Say>, Promise<EchoReply__Output>>>();
  assertType<Equal<Parameters<typeof inferred.say>[0], EchoRequest>>();
  assertType<Equal<ReturnType<typeof inferred.countdown>, ResponseStream<EchoReply__Output>>>();
  assertType<Equal<ReturnType<typeof inferred.collect>, Promise<EchoReply__Output>>>();
  assertType<Equal<ReturnType<typeof inferred.chat>, BidiStream<EchoRequest, EchoReply__Output>>>();
  // @ts-expect-error: `text` is a string
  void inferred.say({ text: 1 });
  // @ts-expect-error: no such method
  void inferred.shout({});
  // @ts-expect-error: client streaming takes an iterable of requests, not one request
  void inferred.collect({ text: 'x' });
  // @ts-expect-error: unknown call option
  void inferred.say({}, { timout: 5 });

  // 2. The generated definition plus the generated client interface as the kind source.
  const fromDefinition = createClient<EchoDefinition, EchoClient>(echoDef, 'localhost:1');
  assertType<Equal<typeof fromDefinition, typeof inferred>>();

  // 3. The generated definition alone: its flags are `boolean`, so no
  //    method may be called until its kind is given.
  const unknownKinds = createClient(echoDef, 'localhost:1');
  // @ts-expect-error: the kind of Say is unknown
  void unknownKinds.say({});

  // 4. A kind map for the methods used.
  const mapped = createClient<EchoDefinition, { Say: 'unary'; Chat: 'bidiStreaming' }>(
    echoDef,
    'localhost:1',
  );
  assertType<Equal<ReturnType<typeof mapped.say>, Promise<EchoReply__Output>>>();
  assertType<Equal<ReturnType<typeof mapped.chat>, BidiStream<EchoRequest, EchoReply__Output>>>();
  // @ts-expect-error: Countdown's kind was not given
  void mapped.countdown({});
}

// 5. A hand-written service interface with literal flags needs no kind hint.
interface Greeting {
  name: string;
}
interface Greeter {
  SayHello: UnaryMethodDefinition<Greeting, Greeting>;
  Subscribe: ServerStreamingMethodDefinition<Greeting, Greeting>;
}
export function handWritten(client: ModernClient<Greeter>): void {
  assertType<Equal<ReturnType<typeof client.sayHello>, Promise<Greeting>>>();
  assertType<Equal<ReturnType<typeof client.subscribe>, ResponseStream<Greeting>>>();
  // @ts-expect-error: `name` is required
  void client.sayHello({});
}

test('the example (proto-loader-gen-types types, inferred client) runs every call kind', async (t) => {
  t.timeout(30_000);
  const { target, server } = await startServer();
  t.teardown(() => server.forceShutdown());
  const lines = await runExample(target, (line) => t.log(line));
  t.deepEqual(lines, [
    'say header x-served-by=example',
    'say trailer x-request-text-length=5',
    'say: you said hello',
    'countdown: 3 2 1',
    'first of a long countdown: 1000, then break',
    'collect: streams from a generator',
    'chat: PING',
    'chat from an iterable: ABC',
    'say failed: 5 NOT_FOUND: nothing called "fail" here',
    'aborted: true cause=seen enough',
  ]);
});
