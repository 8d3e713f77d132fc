import assert from 'node:assert/strict';
import { RemoteError } from '../../src/client/remote-error.js';

/** Asserts that an API call fails with this status and code, naming `field` among its validation issues, its message matching `match`. */
export async function remoteRejects(p: Promise<unknown>, status: number, code: string, field?: string, match?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    if (field !== undefined) assert.ok(((err.details['issues'] ?? []) as { field: string }[]).some((i) => i.field === field), `names ${field}: ${JSON.stringify(err.details)}`);
    if (match) assert.match(err.message, match);
    return true;
  });
}
