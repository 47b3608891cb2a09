// Test PKI made with the openssl CLI, once per test process, in a temp dir:
// a CA, a server certificate for localhost/127.0.0.1/::1, a server
// certificate for another name only, a client certificate for mTLS, and a
// second CA nobody trusts. EC P-256 keys keep generation fast.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpcJs from '@grpc/grpc-js';
import { InteropService, loadTestProto, SERVER_OPTIONS } from './interop-server';

/** A PEM private key (PKCS#8) and its certificate. */
export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

/** Every certificate the TLS tests use. */
export interface TestPki {
  ca: Buffer;
  /** SANs localhost, 127.0.0.1, ::1. */
  server: KeyPair;
  /** SAN `override.example` only. */
  otherName: KeyPair;
  /** Client certificate signed by `ca`. */
  client: KeyPair;
  /** A CA that signed nothing the servers use. */
  unknownCa: Buffer;
  /** Server certificate for localhost signed by the unknown CA. */
  untrusted: KeyPair;
}

let cached: TestPki | undefined;

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=h2grpc test ${name}`,
    '-out',
    `${name}.pem`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(dir: string, name: string, ca: string, san: string, usage: string): KeyPair {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.ec`]);
  // PKCS#8, the form most tools write today.
  openssl(dir, ['pkcs8', '-topk8', '-nocrypt', '-in', `${name}.ec`, '-out', `${name}.key`]);
  openssl(dir, [
    'req',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    `/CN=${name}`,
    '-out',
    `${name}.csr`,
  ]);
  writeFileSync(
    join(dir, `${name}.ext`),
    `subjectAltName=${san}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
  return {
    key: readFileSync(join(dir, `${name}.key`)),
    cert: readFileSync(join(dir, `${name}.pem`)),
  };
}

/** The test PKI, generated on first use. */
export function testPki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'h2grpc-pki-'));
  try {
    makeCa(dir, 'ca');
    makeCa(dir, 'unknown-ca');
    cached = {
      ca: readFileSync(join(dir, 'ca.pem')),
      unknownCa: readFileSync(join(dir, 'unknown-ca.pem')),
      server: makeLeaf(dir, 'server', 'ca', 'DNS:localhost,IP:127.0.0.1,IP:::1', 'serverAuth'),
      otherName: makeLeaf(dir, 'other', 'ca', 'DNS:override.example', 'serverAuth'),
      client: makeLeaf(dir, 'client', 'ca', 'DNS:client.example', 'clientAuth'),
      untrusted: makeLeaf(
        dir,
        'untrusted',
        'unknown-ca',
        'DNS:localhost,IP:127.0.0.1',
        'serverAuth',
      ),
    };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An in-process grpc-js TLS server running the interop TestService. */
export interface TlsServer {
  port: number;
  service: InteropService;
  stop(): Promise<void>;
}

/**
 * Starts the interop TestService in this process on 127.0.0.1 with TLS
 * (grpc-js `ServerCredentials.createSsl`).
 * @param pair The server's key and certificate.
 * @param clientCa When set, clients must present a certificate signed by it.
 * @param port Port to listen on (default: any free port).
 */
export async function startTlsServer(
  pair: KeyPair,
  clientCa?: Buffer,
  port = 0,
): Promise<TlsServer> {
  const pkg = grpcJs.loadPackageDefinition(loadTestProto()) as unknown as {
    grpc: { testing: { TestService: grpcJs.ServiceClientConstructor } };
  };
  const server = new grpcJs.Server(SERVER_OPTIONS);
  const service = new InteropService();
  service.on('error', () => {});
  server.addService(pkg.grpc.testing.TestService.service, service.implementation());
  const creds = grpcJs.ServerCredentials.createSsl(
    clientCa ?? null,
    [{ private_key: pair.key, cert_chain: pair.cert }],
    clientCa !== undefined,
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port: bound,
    service,
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
