import { createHash } from 'node:crypto';
import { AwsAuthError } from '../aws/sigv4/aws-auth-error.js';
import { verifySigV4, type AccessKeySecret } from '../aws/sigv4/verify-sigv4.js';
import { Ec2ApiError } from './ec2-api-error.js';
import type { Ec2AuthRequest, Ec2Authenticator, Ec2Principal } from './ec2-authenticator.js';
import { EC2_REGION } from './ec2-context.js';

/**
 * The EC2 listener's authenticator: AWS Signature Version 4 (src/aws/sigv4/)
 * over the whole form body, for region `nubo-1` and service `ec2`, with the
 * users' access keys. A refusal carries EC2's code for it (AuthFailure for a
 * wrong signature, InvalidAccessKeyId, RequestTimeTooSkewed, …), HTTP 401.
 */
export class SigV4Authenticator implements Ec2Authenticator {
  constructor(private readonly lookupSecret: (accessKeyId: string) => Promise<AccessKeySecret | undefined>, private readonly now: () => Date = () => new Date()) {}

  async authenticate(req: Ec2AuthRequest): Promise<Ec2Principal> {
    try {
      const v = await verifySigV4(
        { method: req.method, url: req.url, headers: req.headers, bodySha256: createHash('sha256').update(req.body, 'utf8').digest('hex') },
        { region: EC2_REGION, service: 'ec2', lookupSecret: this.lookupSecret, now: this.now() },
      );
      return { userId: v.userId, accessKeyId: v.accessKeyId };
    } catch (err) {
      if (err instanceof AwsAuthError) throw new Ec2ApiError(err.awsCode('ec2'), err.message, err.reason === 'malformed' ? 400 : 401);
      throw err;
    }
  }
}
