// OpenTelemetry's OTLP/gRPC trace exporter (unchanged) on h2grpc through the
// npm override, exporting to a collector-shaped server in this test.
import * as http2 from 'node:http2';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { compatRequire, compatTest, grpcSeenBy, nativeCalls, realGrpcJs } from './helpers/compat';

const test = compatTest('OpenTelemetry OTLP exporter');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const PROTO = path.join(__dirname, 'protos', 'otlp_trace.proto');
const SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';

function loadCollectorProto(): Any {
  const protoLoader = compatRequire('@grpc/proto-loader');
  return protoLoader.loadSync(PROTO, {
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
}

/** A collector on the real @grpc/grpc-js that records each Export request and its metadata. */
async function startCollector(t: Any): Promise<{ url: string; requests: Any[]; metadata: Any[] }> {
  const grpc = realGrpcJs();
  const pkg: Any = grpc.loadPackageDefinition(loadCollectorProto());
  const requests: Any[] = [];
  const metadata: Any[] = [];
  const server = new grpc.Server();
  server.addService(pkg.opentelemetry.proto.collector.trace.v1.TraceService.service, {
    Export(call: Any, callback: Any) {
      requests.push(call.request);
      metadata.push(call.metadata);
      callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  t.teardown(() => server.forceShutdown());
  return { url: `http://127.0.0.1:${port}`, requests, metadata };
}

/** Ends two spans (one child of the other) through a provider exporting with `exporter`. */
async function exportSpans(exporter: Any): Promise<void> {
  const { BasicTracerProvider, SimpleSpanProcessor } = compatRequire(
    '@opentelemetry/sdk-trace-base',
  );
  const api = compatRequire('@opentelemetry/api');
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('h2grpc-compat', '1.2.3');
  const parent = tracer.startSpan('compat-parent', {
    attributes: { 'compat.string': 'value', 'compat.int': 42, 'compat.bool': true },
  });
  const child = tracer.startSpan(
    'compat-child',
    { attributes: { 'compat.child': 'yes' } },
    api.trace.setSpan(api.context.active(), parent),
  );
  child.end();
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
}

function spansOf(requests: Any[]): Any[] {
  return requests.flatMap((r) =>
    r.resource_spans.flatMap((rs: Any) => rs.scope_spans.flatMap((ss: Any) => ss.spans)),
  );
}

function attributes(span: Any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of span.attributes) out[kv.key] = kv.value[kv.value.value];
  return out;
}

test('the exporter loads h2grpc as @grpc/grpc-js', (t) => {
  grpcSeenBy(t, '@opentelemetry/otlp-grpc-exporter-base');
});

test('spans reach a grpc-js collector with their names, attributes and parentage', async (t) => {
  const grpc = grpcSeenBy(t, '@opentelemetry/otlp-grpc-exporter-base');
  const before = nativeCalls(grpc);
  const collector = await startCollector(t);
  const { OTLPTraceExporter } = compatRequire('@opentelemetry/exporter-trace-otlp-grpc');
  const metadata = new grpc.Metadata();
  metadata.set('x-api-key', 'compat-secret');
  const exporter = new OTLPTraceExporter({ url: collector.url, metadata });
  await exportSpans(exporter);

  const spans = spansOf(collector.requests);
  t.deepEqual(spans.map((s) => s.name).sort(), ['compat-child', 'compat-parent']);
  const parent = spans.find((s) => s.name === 'compat-parent');
  const child = spans.find((s) => s.name === 'compat-child');
  t.deepEqual(attributes(parent), {
    'compat.string': 'value',
    'compat.int': '42',
    'compat.bool': true,
  });
  t.deepEqual(attributes(child), { 'compat.child': 'yes' });
  t.deepEqual(child.parent_span_id, parent.span_id);
  t.deepEqual(child.trace_id, parent.trace_id);
  t.is(parent.trace_id.length, 16);
  const scope = collector.requests[0].resource_spans[0].scope_spans[0].scope;
  t.is(scope.name, 'h2grpc-compat');
  t.is(scope.version, '1.2.3');
  t.deepEqual(collector.metadata[0].get('x-api-key'), ['compat-secret']);
  t.regex(String(collector.metadata[0].get('user-agent')[0]), /OTel-OTLP-Exporter-JavaScript/);
  t.true(nativeCalls(grpc) > before, 'the export went through h2grpc');
});

/**
 * A collector on node:http2 that speaks gRPC by hand, so the test sees the
 * wire: the request's grpc-encoding and each message's compressed flag.
 */
async function startWireCollector(t: Any): Promise<{ url: string; seen: Any[] }> {
  const protobuf = compatRequire('protobufjs');
  const root = protobuf.loadSync(PROTO);
  const Request = root.lookupType(
    `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`,
  );
  const seen: Any[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const compressed = body[0] === 1;
      const payload = body.subarray(5, 5 + body.readUInt32BE(1));
      const message = Request.toObject(Request.decode(compressed ? gunzipSync(payload) : payload));
      seen.push({
        path: headers[':path'],
        encoding: headers['grpc-encoding'],
        compressed,
        message,
      });
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, seen };
}

test("compression: 'gzip' sends gzip-compressed messages", async (t) => {
  const collector = await startWireCollector(t);
  const { OTLPTraceExporter } = compatRequire('@opentelemetry/exporter-trace-otlp-grpc');
  const exporter = new OTLPTraceExporter({ url: collector.url, compression: 'gzip' });
  await exportSpans(exporter);
  t.true(collector.seen.length >= 1);
  for (const req of collector.seen) {
    t.is(req.path, `/${SERVICE}/Export`);
    t.is(req.encoding, 'gzip');
    t.true(req.compressed, 'the message has the compressed flag');
  }
  const names = collector.seen.flatMap((r) =>
    r.message.resourceSpans.flatMap((rs: Any) =>
      rs.scopeSpans.flatMap((ss: Any) => ss.spans.map((s: Any) => s.name)),
    ),
  );
  t.deepEqual(names.sort(), ['compat-child', 'compat-parent']);
});

test('the hand-written wire collector decodes an uncompressed export (keeps the gzip test honest)', async (t) => {
  const collector = await startWireCollector(t);
  const { OTLPTraceExporter } = compatRequire('@opentelemetry/exporter-trace-otlp-grpc');
  await exportSpans(new OTLPTraceExporter({ url: collector.url }));
  t.true(collector.seen.length >= 1);
  t.false(collector.seen[0].compressed);
  const names = collector.seen.flatMap((r) =>
    r.message.resourceSpans.flatMap((rs: Any) =>
      rs.scopeSpans.flatMap((ss: Any) => ss.spans.map((s: Any) => s.name)),
    ),
  );
  t.deepEqual(names.sort(), ['compat-child', 'compat-parent']);
});
