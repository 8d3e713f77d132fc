import assert from 'node:assert/strict';

/** The AWS SDK error a call ends in, as `Code: message`; fails the test when the call succeeds. */
export async function awsCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return `${(err as { name: string }).name}: ${(err as Error).message}`;
  }
  assert.fail('the call succeeded');
}
