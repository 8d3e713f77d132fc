/** What the authenticator sees of a request: enough to recompute a SigV4 signature. */
export interface Ec2AuthRequest {
  readonly method: string;
  /** Path and query string as received. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The raw body (form-encoded for POST). */
  readonly body: string;
}

export interface Ec2Principal {
  readonly userId: string;
  readonly accessKeyId: string;
}

/**
 * Who signed a request. Implementations throw Ec2ApiError with AWS's codes:
 * `AuthFailure` (a wrong signature, no credentials), `InvalidAccessKeyId`
 * (unknown key; EC2 says `AuthFailure` for that too, the SDKs accept both),
 * `RequestTimeTooSkewed` (more than 15 min off). Called once, before any
 * action handler.
 */
export interface Ec2Authenticator {
  authenticate(req: Ec2AuthRequest): Promise<Ec2Principal>;
}
