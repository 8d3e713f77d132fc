import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SNAPSHOT_NAME_MAX, snapshotNameProblem, snapshotNameSchema } from './snapshot-name.js';

test('plain names are snapshot names', () => {
  for (const ok of ['before', 'a', '0', 'v1.2', 'pre_upgrade-2024.01', 'A-b_c.d', 'x'.repeat(SNAPSHOT_NAME_MAX), '1']) {
    assert.equal(snapshotNameProblem(ok), undefined, ok);
    assert.equal(snapshotNameSchema.safeParse(ok).success, true, ok);
  }
});

test('a name that is a path is refused as a path', () => {
  for (const path of ['../x', 'a/b', '/etc/passwd', 'a\\b', '..', '.', 'x/..', 'a..b', '../../disk.qcow2', '\\\\server\\share']) {
    assert.equal(snapshotNameProblem(path), 'must be a plain name, not a path', path);
  }
});

test('other bad names are refused with their own reason, one issue each', () => {
  const cases: [string, RegExp][] = [
    ['', /must not be empty/],
    ['x'.repeat(SNAPSHOT_NAME_MAX + 1), /at most 64 characters/],
    ['-lead', /start with a letter or digit/],
    ['.hidden', /start with a letter or digit/],
    ['_x', /start with a letter or digit/],
    ['has space', /only letters, digits/],
    ['tab\there', /only letters, digits/],
    ['nul\u0000', /only letters, digits/],
    ['é', /start with a letter or digit/],
    ['a;rm -rf', /only letters, digits/],
  ];
  for (const [name, why] of cases) {
    assert.match(snapshotNameProblem(name) ?? '', why, JSON.stringify(name));
    const r = snapshotNameSchema.safeParse(name);
    assert.equal(r.success, false, JSON.stringify(name));
    assert.equal(r.error?.issues.length, 1, JSON.stringify(r.error?.issues));
  }
  assert.equal(snapshotNameSchema.safeParse(42).success, false);
});
