// Channel and call credentials, shaped like grpc-js's. Channel credentials
// only describe the TLS settings (rustls runs the handshake natively, see
// crates/h2core/src/tls.rs); call credentials produce per-call metadata and
// are applied by TransportCall once a connection is picked.
import { readFileSync } from 'node:fs';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { Metadata } from './metadata';

/** What a call credentials generator is told about the call it authenticates. */
export interface CallMetadataOptions {
  /** Full method path, e.g. `/pkg.Service/Method`. */
  method_name: string;
  /** URL of the service, without the method: `https://<host>/<service>`. */
  service_url: string;
}

/** Produces per-call metadata; the grpc-js signature for custom call credentials. */
export type CallMetadataGenerator = (
  options: CallMetadataOptions,
  callback: (err: Error | null, metadata?: Metadata) => void,
) => void;

/** google-auth-library before v2: headers through a callback. */
export interface OldOAuth2Client {
  getRequestMetadata: (
    url: string,
    callback: (err: Error | null, headers?: { [index: string]: string }) => void,
  ) => void;
}

/** google-auth-library v2 and later: headers as a promise (a plain object or a Fetch `Headers`). */
export interface CurrentOAuth2Client {
  getRequestHeaders: (url?: string) => Promise<{ [index: string]: string } | HeadersLike>;
}

/** The part of a Fetch `Headers` object that call credentials read. */
export interface HeadersLike {
  forEach(callback: (value: string, key: string) => void): void;
}

/** A Google auth client, as accepted by {@link CallCredentials.createFromGoogleCredential}. */
export type OAuth2Client = OldOAuth2Client | CurrentOAuth2Client;

/**
 * Credentials that add metadata (typically an authorization header) to each
 * call. Channel-level ones (via {@link ChannelCredentials.compose}) and
 * per-call ones (`CallOptions.credentials`) are combined for every call.
 */
export abstract class CallCredentials {
  /** Produces the metadata to add to a call. */
  abstract generateMetadata(options: CallMetadataOptions): Promise<Metadata>;

  /** Returns credentials applying this object's metadata, then `callCredentials`'s. */
  abstract compose(callCredentials: CallCredentials): CallCredentials;

  /** Whether `other` would produce the same metadata. */
  abstract _equals(other: CallCredentials): boolean;

  /**
   * Creates call credentials from a function that produces the metadata.
   * @param metadataGenerator Called once per call, with the call's service URL and method.
   */
  static createFromMetadataGenerator(metadataGenerator: CallMetadataGenerator): CallCredentials {
    return new SingleCallCredentials(metadataGenerator);
  }

  /**
   * Creates call credentials from a google-auth-library client: each call
   * gets the headers of `getRequestHeaders(service_url)` (or the older
   * `getRequestMetadata`) as metadata.
   * @param googleCredentials The authentication client to use.
   */
  static createFromGoogleCredential(googleCredentials: OAuth2Client): CallCredentials {
    return CallCredentials.createFromMetadataGenerator((options, callback) => {
      let headers: Promise<{ [index: string]: string } | HeadersLike>;
      if (
        'getRequestHeaders' in googleCredentials &&
        typeof googleCredentials.getRequestHeaders === 'function'
      ) {
        headers = googleCredentials.getRequestHeaders(options.service_url);
      } else {
        const old = googleCredentials as OldOAuth2Client;
        headers = new Promise((resolve, reject) => {
          old.getRequestMetadata(options.service_url, (err, h) => {
            if (err) reject(err);
            else if (!h) reject(new Error('Headers not set by metadata plugin'));
            else resolve(h);
          });
        });
      }
      headers.then(
        (h) => {
          const metadata = new Metadata();
          if (isHeadersLike(h)) h.forEach((value, key) => metadata.add(key, value));
          else for (const key of Object.keys(h)) metadata.add(key, h[key]);
          callback(null, metadata);
        },
        (err: Error) => callback(err),
      );
    });
  }

  /** Creates call credentials that add nothing. */
  static createEmpty(): CallCredentials {
    return new EmptyCallCredentials();
  }
}

function isHeadersLike(h: object): h is HeadersLike {
  return (
    typeof (h as HeadersLike).forEach === 'function' &&
    Object.getPrototypeOf(h) !== Object.prototype
  );
}

class SingleCallCredentials extends CallCredentials {
  constructor(private readonly metadataGenerator: CallMetadataGenerator) {
    super();
  }

  generateMetadata(options: CallMetadataOptions): Promise<Metadata> {
    return new Promise<Metadata>((resolve, reject) => {
      this.metadataGenerator(options, (err, metadata) => {
        if (metadata !== undefined) resolve(metadata);
        else reject(err);
      });
    });
  }

  compose(other: CallCredentials): CallCredentials {
    if (other instanceof EmptyCallCredentials) return this;
    return new ComposedCallCredentials([this, other]);
  }

  _equals(other: CallCredentials): boolean {
    return (
      this === other ||
      (other instanceof SingleCallCredentials && this.metadataGenerator === other.metadataGenerator)
    );
  }
}

class ComposedCallCredentials extends CallCredentials {
  constructor(private readonly creds: CallCredentials[]) {
    super();
  }

  // All generators run at once; their metadata is merged in composition order.
  async generateMetadata(options: CallMetadataOptions): Promise<Metadata> {
    const base = new Metadata();
    const generated = await Promise.all(this.creds.map((c) => c.generateMetadata(options)));
    for (const m of generated) base.merge(m);
    return base;
  }

  compose(other: CallCredentials): CallCredentials {
    if (other instanceof EmptyCallCredentials) return this;
    return new ComposedCallCredentials(this.creds.concat([other]));
  }

  _equals(other: CallCredentials): boolean {
    if (this === other) return true;
    return (
      other instanceof ComposedCallCredentials &&
      this.creds.length === other.creds.length &&
      this.creds.every((c, i) => c._equals(other.creds[i]))
    );
  }
}

class EmptyCallCredentials extends CallCredentials {
  generateMetadata(_options: CallMetadataOptions): Promise<Metadata> {
    return Promise.resolve(new Metadata());
  }

  compose(other: CallCredentials): CallCredentials {
    return other;
  }

  _equals(other: CallCredentials): boolean {
    return other instanceof EmptyCallCredentials;
  }
}

/**
 * Whether these call credentials add nothing, so a call can skip the
 * asynchronous metadata step entirely.
 */
export function isEmptyCallCredentials(creds: CallCredentials): boolean {
  return creds instanceof EmptyCallCredentials;
}

/** grpc-js `checkServerIdentity`: return an Error to refuse the server. */
export type CheckServerIdentityCallback = (
  hostname: string,
  cert: PeerCertificate,
) => Error | undefined;

/** Extra certificate verification settings for {@link ChannelCredentials.createSsl}. */
export interface VerifyOptions {
  /**
   * Checks the server certificate instead of the default hostname check
   * (the chain is still verified). Called with the TLS server name and the
   * certificate in `tls.PeerCertificate` form.
   */
  checkServerIdentity?: CheckServerIdentityCallback;
  /** `false` accepts any server certificate. Only for testing. */
  rejectUnauthorized?: boolean;
}

/** @internal The TLS part of a connection's settings, as the channel passes it to native code. */
export interface TlsSettings {
  rootCerts?: string;
  privateKey?: string;
  certChain?: string;
  rejectUnauthorized?: boolean;
  checkServerIdentity?: CheckServerIdentityCallback;
}

/**
 * How a channel secures its connections, and the call credentials it
 * applies to every call. Create them with {@link credentials}.
 */
export abstract class ChannelCredentials {
  /**
   * Returns credentials that also apply `callCredentials` to every call.
   * @throws Error for insecure credentials, as grpc-js does.
   */
  compose(callCredentials: CallCredentials): ChannelCredentials {
    return new ComposedChannelCredentials(this, callCredentials);
  }

  /** Whether connections made with these credentials use TLS. */
  abstract _isSecure(): boolean;

  /** Whether `other` configures connections identically. */
  abstract _equals(other: ChannelCredentials): boolean;

  /** @internal TLS settings, or null for plaintext. */
  abstract _getTlsSettings(): TlsSettings | null;

  /** @internal Call credentials every call on the channel gets, or null. */
  _getCallCredentials(): CallCredentials | null {
    return null;
  }

  /** Credentials for plaintext (h2c) connections. */
  static createInsecure(): ChannelCredentials {
    return new InsecureChannelCredentials();
  }

  /**
   * TLS credentials.
   * @param rootCerts PEM roots to trust; default: `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`
   *   if set, else the system's roots.
   * @param privateKey PEM client key for mutual TLS (with `certChain`).
   * @param certChain PEM client certificate chain for mutual TLS (with `privateKey`).
   * @param verifyOptions `checkServerIdentity` and `rejectUnauthorized`.
   * @throws TypeError when an argument is not a Buffer; Error when only one of
   *   key and chain is given or the PEM data cannot be used.
   */
  static createSsl(
    rootCerts?: Buffer | null,
    privateKey?: Buffer | null,
    certChain?: Buffer | null,
    verifyOptions?: VerifyOptions,
  ): ChannelCredentials {
    verifyIsBufferOrNull(rootCerts, 'Root certificate');
    verifyIsBufferOrNull(privateKey, 'Private key');
    verifyIsBufferOrNull(certChain, 'Certificate chain');
    if (privateKey && !certChain) {
      throw new Error('Private key must be given with accompanying certificate chain');
    }
    if (!privateKey && certChain) {
      throw new Error('Certificate chain must be given with accompanying private key');
    }
    const roots = rootCerts ?? getDefaultRootsData() ?? undefined;
    // Node parses the PEM data the way grpc-js does, so bad input fails here,
    // with Node's message, instead of at every connection attempt.
    createSecureContext({
      ca: roots,
      key: privateKey ?? undefined,
      cert: certChain ?? undefined,
    });
    return new SecureChannelCredentials(
      {
        rootCerts: roots?.toString('utf8'),
        privateKey: privateKey?.toString('utf8'),
        certChain: certChain?.toString('utf8'),
        rejectUnauthorized: verifyOptions?.rejectUnauthorized,
        checkServerIdentity: verifyOptions?.checkServerIdentity,
      },
      rootCerts ?? null,
      privateKey ?? null,
      certChain ?? null,
    );
  }

  /**
   * Not supported: TLS runs in native code (rustls), and the certificates
   * and key inside a `tls.SecureContext` cannot be read back out of it.
   * @throws Error always, naming {@link ChannelCredentials.createSsl} as the alternative.
   */
  static createFromSecureContext(
    _secureContext: unknown,
    _verifyOptions?: VerifyOptions,
  ): ChannelCredentials {
    throw new Error(
      'h2grpc: credentials.createFromSecureContext is not supported: TLS runs natively and ' +
        'cannot read certificates back out of a tls.SecureContext; pass the PEM buffers to ' +
        'credentials.createSsl(rootCerts, privateKey, certChain, verifyOptions) instead',
    );
  }
}

function verifyIsBufferOrNull(obj: unknown, friendlyName: string): void {
  if (obj && !(obj instanceof Buffer)) {
    throw new TypeError(`${friendlyName}, if provided, must be a Buffer.`);
  }
}

let defaultRootsData: Buffer | null = null;

/** grpc-js reads `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH` once, on first use. */
function getDefaultRootsData(): Buffer | null {
  const path = process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH;
  if (!path) return null;
  if (defaultRootsData === null) defaultRootsData = readFileSync(path);
  return defaultRootsData;
}

class InsecureChannelCredentials extends ChannelCredentials {
  override compose(_callCredentials: CallCredentials): never {
    throw new Error('Cannot compose insecure credentials');
  }

  _isSecure(): boolean {
    return false;
  }

  _equals(other: ChannelCredentials): boolean {
    return other instanceof InsecureChannelCredentials;
  }

  _getTlsSettings(): TlsSettings | null {
    return null;
  }
}

class SecureChannelCredentials extends ChannelCredentials {
  constructor(
    private readonly settings: TlsSettings,
    private readonly rootCerts: Buffer | null,
    private readonly privateKey: Buffer | null,
    private readonly certChain: Buffer | null,
  ) {
    super();
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: ChannelCredentials): boolean {
    if (this === other) return true;
    if (!(other instanceof SecureChannelCredentials)) return false;
    const same = (a: Buffer | null, b: Buffer | null): boolean =>
      a === null ? b === null : b !== null && a.equals(b);
    return (
      same(this.rootCerts, other.rootCerts) &&
      same(this.privateKey, other.privateKey) &&
      same(this.certChain, other.certChain) &&
      this.settings.rejectUnauthorized === other.settings.rejectUnauthorized &&
      this.settings.checkServerIdentity === other.settings.checkServerIdentity
    );
  }

  _getTlsSettings(): TlsSettings {
    return this.settings;
  }
}

class ComposedChannelCredentials extends ChannelCredentials {
  constructor(
    private readonly channelCredentials: ChannelCredentials,
    private readonly callCredentials: CallCredentials,
  ) {
    super();
    if (!channelCredentials._isSecure()) throw new Error('Cannot compose insecure credentials');
  }

  override compose(callCredentials: CallCredentials): ChannelCredentials {
    return new ComposedChannelCredentials(
      this.channelCredentials,
      this.callCredentials.compose(callCredentials),
    );
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: ChannelCredentials): boolean {
    if (this === other) return true;
    return (
      other instanceof ComposedChannelCredentials &&
      this.channelCredentials._equals(other.channelCredentials) &&
      this.callCredentials._equals(other.callCredentials)
    );
  }

  _getTlsSettings(): TlsSettings | null {
    return this.channelCredentials._getTlsSettings();
  }

  override _getCallCredentials(): CallCredentials | null {
    return isEmptyCallCredentials(this.callCredentials) ? null : this.callCredentials;
  }
}

/** Credential factories, shaped like `@grpc/grpc-js`'s `credentials`. */
export const credentials = {
  /** Credentials for plaintext (h2c) connections. */
  createInsecure: ChannelCredentials.createInsecure,
  /** TLS credentials: see {@link ChannelCredentials.createSsl}. */
  createSsl: ChannelCredentials.createSsl,
  /** Throws: see {@link ChannelCredentials.createFromSecureContext}. */
  createFromSecureContext: ChannelCredentials.createFromSecureContext,
  /** Call credentials from a metadata generator function. */
  createFromMetadataGenerator: CallCredentials.createFromMetadataGenerator,
  /** Call credentials from a google-auth-library client. */
  createFromGoogleCredential: CallCredentials.createFromGoogleCredential,
  /** Call credentials that add nothing. */
  createEmpty: CallCredentials.createEmpty,
  /**
   * Adds call credentials to channel credentials.
   * @param channelCredentials The (secure) channel credentials to extend.
   * @param callCredentials Call credentials to apply to every call, in order.
   * @throws Error when `channelCredentials` is insecure.
   */
  combineChannelCredentials(
    channelCredentials: ChannelCredentials,
    ...callCredentials: CallCredentials[]
  ): ChannelCredentials {
    return callCredentials.reduce<ChannelCredentials>(
      (acc, other) => acc.compose(other),
      channelCredentials,
    );
  },
  /**
   * Combines call credentials; their metadata is merged in argument order.
   * @param first Call credentials applied first.
   * @param additional Call credentials applied after `first`, in order.
   */
  combineCallCredentials(
    first: CallCredentials,
    ...additional: CallCredentials[]
  ): CallCredentials {
    return additional.reduce((acc, other) => acc.compose(other), first);
  },
};
