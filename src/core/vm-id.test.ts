import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkVmId, InvalidVmIdError, isVmId, vmIdSchema } from './vm-id.js';
import { vmPaths } from '../hypervisor/qemu/vm-paths.js';

const BAD = ['../x', 'a/b', '..', '.', '', '/etc', 'a\\b', 'A1', '1a', 'a_b', 'a'.repeat(41), 'vm\0x', ' vm'];

test('a VM id is 1-40 of a-z, 0-9 and -, starting with a letter', () => {
  for (const ok of ['a', 'vm-1', 'v' + 'a'.repeat(39)]) {
    assert.equal(isVmId(ok), true, ok);
    assert.equal(checkVmId(ok), ok);
    assert.equal(vmIdSchema.safeParse(ok).success, true, ok);
  }
  for (const bad of BAD) {
    assert.equal(isVmId(bad), false, JSON.stringify(bad));
    assert.equal(vmIdSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('checkVmId throws a typed error that names the field', () => {
  for (const bad of BAD) {
    assert.throws(() => checkVmId(bad), (err: unknown) => {
      assert.ok(err instanceof InvalidVmIdError, String(err));
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.equal(err.field, 'id');
      assert.equal(err.vmId, bad);
      return true;
    });
  }
});

test('the QEMU driver builds no runtime path from an id that is not one', () => {
  assert.equal(vmPaths('/run/nubo', 'vm-1').dir, '/run/nubo/vm-1');
  for (const bad of BAD) assert.throws(() => vmPaths('/run/nubo', bad), InvalidVmIdError, JSON.stringify(bad));
});
