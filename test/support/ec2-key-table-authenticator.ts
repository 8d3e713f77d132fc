import { Ec2ApiError } from '../../src/ec2/ec2-api-error.js';
import type { Ec2AuthRequest, Ec2Authenticator, Ec2Principal } from '../../src/ec2/ec2-authenticator.js';

/**
 * A test double of the SigV4 authenticator: the access key id is read from
 * the Authorization header's credential and looked up in a table; the
 * signature itself is not checked (the real verifier's own tests do that).
 */
export class KeyTableAuthenticator implements Ec2Authenticator {
  readonly keys = new Map<string, string>();

  async authenticate(req: Ec2AuthRequest): Promise<Ec2Principal> {
    const auth = req.headers['authorization'];
    const m = typeof auth === 'string' ? /Credential=([^/]+)\//.exec(auth) : null;
    if (!m?.[1]) throw new Ec2ApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
    const userId = this.keys.get(m[1]);
    if (userId === undefined) throw new Ec2ApiError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 401);
    return { userId, accessKeyId: m[1] };
  }
}
