// Channel and call credentials. Only plaintext channels exist so far; every
// factory for something h2grpc cannot do yet throws, so that nobody believes
// a channel is encrypted or authenticated when it is not.
import type { Metadata } from './metadata';

const TLS_UNAVAILABLE =
  'h2grpc: TLS is not available yet; only credentials.createInsecure() is supported in this version';
const CALL_CREDENTIALS_UNAVAILABLE =
  'h2grpc: call credentials are not available yet; add authentication headers to the Metadata of each call instead';

/** What a call credentials generator is told about the call it authenticates. */
export interface CallMetadataOptions {
  /** Full method path, e.g. `/pkg.Service/Method`. */
  method_name: string;
  /** URL of the service, without the method. */
  service_url: string;
}

/** Produces per-call metadata; the grpc-js signature for custom call credentials. */
export type CallMetadataGenerator = (
  options: CallMetadataOptions,
  callback: (err: Error | null, metadata?: Metadata) => void,
) => void;

/**
 * Credentials that add metadata (typically an authorization header) to each
 * call. Not implemented yet: the factories throw.
 */
export abstract class CallCredentials {
  /** Produces the metadata to add to a call. */
  abstract generateMetadata(options: CallMetadataOptions): Promise<Metadata>;

  /** Returns credentials applying this object's metadata, then `callCredentials`'s. */
  abstract compose(callCredentials: CallCredentials): CallCredentials;

  /** Whether `other` would produce the same metadata. */
  abstract _equals(other: CallCredentials): boolean;

  /**
   * Would create call credentials from a metadata generator.
   * @throws Error always: call credentials are not available yet.
   */
  static createFromMetadataGenerator(metadataGenerator: CallMetadataGenerator): CallCredentials {
    throw new Error(CALL_CREDENTIALS_UNAVAILABLE);
  }

  /**
   * Would create call credentials from a Google auth client.
   * @throws Error always: call credentials are not available yet.
   */
  static createFromGoogleCredential(googleCredentials: unknown): CallCredentials {
    throw new Error(CALL_CREDENTIALS_UNAVAILABLE);
  }

  /**
   * Would create call credentials that add nothing.
   * @throws Error always: call credentials are not available yet.
   */
  static createEmpty(): CallCredentials {
    throw new Error(CALL_CREDENTIALS_UNAVAILABLE);
  }
}

/**
 * How a channel secures its connections. Use {@link credentials} to create
 * one; only {@link ChannelCredentials.createInsecure} works so far.
 */
export abstract class ChannelCredentials {
  /**
   * Would attach call credentials to every call on the channel.
   * @throws Error always: call credentials are not available yet.
   */
  compose(callCredentials: CallCredentials): ChannelCredentials {
    throw new Error(CALL_CREDENTIALS_UNAVAILABLE);
  }

  /** Whether connections made with these credentials use TLS. */
  abstract _isSecure(): boolean;

  /** Whether `other` configures connections identically. */
  abstract _equals(other: ChannelCredentials): boolean;

  /** Credentials for plaintext (h2c) connections. */
  static createInsecure(): ChannelCredentials {
    return new InsecureChannelCredentials();
  }

  /**
   * Would create TLS credentials.
   * @throws Error always: TLS is not available yet.
   */
  static createSsl(
    rootCerts?: Buffer | null,
    privateKey?: Buffer | null,
    certChain?: Buffer | null,
    verifyOptions?: object,
  ): ChannelCredentials {
    throw new Error(TLS_UNAVAILABLE);
  }

  /**
   * Would create TLS credentials from a `tls.SecureContext`.
   * @throws Error always: TLS is not available yet.
   */
  static createFromSecureContext(
    secureContext: unknown,
    verifyOptions?: object,
  ): ChannelCredentials {
    throw new Error(TLS_UNAVAILABLE);
  }
}

class InsecureChannelCredentials extends ChannelCredentials {
  _isSecure(): boolean {
    return false;
  }

  _equals(other: ChannelCredentials): boolean {
    return other instanceof InsecureChannelCredentials;
  }
}

/**
 * Credential factories, shaped like `@grpc/grpc-js`'s `credentials`. Only
 * `createInsecure` works so far; the others throw an Error that says so.
 */
export const credentials = {
  /** Credentials for plaintext (h2c) connections. */
  createInsecure: ChannelCredentials.createInsecure,
  /** Throws: TLS is not available yet. */
  createSsl: ChannelCredentials.createSsl,
  /** Throws: TLS is not available yet. */
  createFromSecureContext: ChannelCredentials.createFromSecureContext,
  /** Throws: call credentials are not available yet. */
  createFromMetadataGenerator: CallCredentials.createFromMetadataGenerator,
  /** Throws: call credentials are not available yet. */
  createFromGoogleCredential: CallCredentials.createFromGoogleCredential,
  /** Throws: call credentials are not available yet. */
  createEmpty: CallCredentials.createEmpty,
  /**
   * Throws: call credentials are not available yet.
   * @param channelCredentials The channel credentials to extend.
   * @param callCredentials Call credentials to apply to every call.
   */
  combineChannelCredentials(
    channelCredentials: ChannelCredentials,
    ...callCredentials: CallCredentials[]
  ): ChannelCredentials {
    throw new Error(CALL_CREDENTIALS_UNAVAILABLE);
  },
  /**
   * Throws: call credentials are not available yet.
   * @param first Call credentials applied first.
   * @param additional Call credentials applied after `first`, in order.
   */
  combineCallCredentials(
    first: CallCredentials,
    ...additional: CallCredentials[]
  ): CallCredentials {
    throw new Error(CALL_CREDENTIALS_UNAVAILABLE);
  },
};
