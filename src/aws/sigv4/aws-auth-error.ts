import { NuboError } from '../../errors/nubo-error.js';

/** Why a SigV4 check refused a request; each interface (S3, EC2) names it with its own AWS error code. */
export type AwsAuthReason =
  | 'missing' // no Authorization header and no presigned query
  | 'malformed' // an Authorization header or presigned query that cannot be parsed
  | 'unknown-key' // no such access key (never made, or revoked)
  | 'wrong-scope' // the credential scope names another region or service, or a date other than the request's
  | 'skewed' // the request's time is more than 15 minutes from the server's
  | 'expired' // a presigned URL past its X-Amz-Expires
  | 'signature'; // the signature does not match

/** The AWS error code each interface answers a refusal with (the codes its clients match on). */
const AWS_CODES: Readonly<Record<'s3' | 'ec2', Readonly<Record<AwsAuthReason, string>>>> = {
  s3: {
    missing: 'AccessDenied', malformed: 'AuthorizationHeaderMalformed', 'unknown-key': 'InvalidAccessKeyId', 'wrong-scope': 'AuthorizationHeaderMalformed',
    skewed: 'RequestTimeTooSkewed', expired: 'AccessDenied', signature: 'SignatureDoesNotMatch',
  },
  ec2: {
    missing: 'AuthFailure', malformed: 'IncompleteSignature', 'unknown-key': 'InvalidAccessKeyId', 'wrong-scope': 'AuthFailure',
    skewed: 'RequestTimeTooSkewed', expired: 'RequestExpired', signature: 'AuthFailure',
  },
};

/** A request whose AWS Signature Version 4 did not verify: nothing may be done for it. */
export class AwsAuthError extends NuboError {
  readonly code = 'AWS_AUTH_FAILED';

  constructor(readonly reason: AwsAuthReason, message: string, details: Record<string, unknown> = {}) {
    super(message, { reason, ...details });
  }

  /** The AWS error code for this refusal on the given interface (`SignatureDoesNotMatch` on S3, `AuthFailure` on EC2, …). */
  awsCode(api: 's3' | 'ec2'): string {
    return AWS_CODES[api][this.reason];
  }
}
