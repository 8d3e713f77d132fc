import assert from 'node:assert/strict';
import { Ec2ApiError } from './ec2-api-error.js';

/** For unit tests: the EC2 error `fn` throws, as `Code: message`; fails the test when it throws none or another kind. */
export function ec2Refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Ec2ApiError, String(err));
    return `${err.awsCode}: ${err.message}`;
  }
  assert.fail('no error');
}
