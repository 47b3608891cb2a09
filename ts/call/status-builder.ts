// A builder for status objects, as grpc-js exports it; interceptors use it
// to make the status they pass on (its retry example does).
import type { Status } from '../constants';
import type { Metadata } from '../metadata';
import type { StatusObject } from './call-interface';

/** Builds a status object field by field; fields never set are left out. */
export class StatusBuilder {
  private code: Status | null = null;
  private details: string | null = null;
  private metadata: Metadata | null = null;

  /** Sets the status code. */
  withCode(code: Status): this {
    this.code = code;
    return this;
  }

  /** Sets the details text. */
  withDetails(details: string): this {
    this.details = details;
    return this;
  }

  /** Sets the trailing metadata. */
  withMetadata(metadata: Metadata): this {
    this.metadata = metadata;
    return this;
  }

  /** The status, with only the fields that were set. */
  build(): Partial<StatusObject> {
    const status: Partial<StatusObject> = {};
    if (this.code !== null) status.code = this.code;
    if (this.details !== null) status.details = this.details;
    if (this.metadata !== null) status.metadata = this.metadata;
    return status;
  }
}
