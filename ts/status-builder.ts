// grpc-js's StatusBuilder, used by interceptors to assemble a status one
// field at a time.
import type { StatusObject } from './call/call-interface';
import type { Status } from './constants';
import type { Metadata } from './metadata';

/** Builds a (possibly partial) {@link StatusObject}; same API as grpc-js's `StatusBuilder`. */
export class StatusBuilder {
  private code: Status | null = null;
  private details: string | null = null;
  private metadata: Metadata | null = null;

  /**
   * Sets the status code.
   * @param code A gRPC status code.
   */
  withCode(code: Status): this {
    this.code = code;
    return this;
  }

  /**
   * Sets the details (the human-readable message).
   * @param details The status details.
   */
  withDetails(details: string): this {
    this.details = details;
    return this;
  }

  /**
   * Sets the trailing metadata.
   * @param metadata The trailers.
   */
  withMetadata(metadata: Metadata): this {
    this.metadata = metadata;
    return this;
  }

  /** The status with the fields that were set. */
  build(): Partial<StatusObject> {
    const status: Partial<StatusObject> = {};
    if (this.code !== null) status.code = this.code;
    if (this.details !== null) status.details = this.details;
    if (this.metadata !== null) status.metadata = this.metadata;
    return status;
  }
}
