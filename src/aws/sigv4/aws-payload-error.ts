import { NuboError } from '../../errors/nubo-error.js';

/** A signed request whose body is not what was signed or declared (a checksum, a chunk signature, a length): refused, nothing kept. */
export class AwsPayloadError extends NuboError {
  readonly code = 'AWS_PAYLOAD_INVALID';

  /** @param awsCode S3's code for it: XAmzContentSHA256Mismatch, BadDigest, IncompleteBody, InvalidRequest, SignatureDoesNotMatch */
  constructor(readonly awsCode: string, message: string, details: Record<string, unknown> = {}) {
    super(message, { awsCode, ...details });
  }
}
