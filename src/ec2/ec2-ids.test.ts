import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isEc2Id, newEc2Id } from './ec2-ids.js';
import { ec2StateOf } from './ec2-instance-state.js';
import { VM_STATES } from '../core/vm-state.js';
import { compileInstanceTypes, instanceTypeOf, shownInstanceType } from './ec2-instance-types.js';
import type { Ec2ApiError } from './ec2-api-error.js';

describe('EC2 ids, states and instance types', () => {
  it('ids are the prefix and 17 hex digits, and distinct', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newEc2Id('instance')));
    assert.equal(ids.size, 200);
    for (const id of ids) assert.match(id, /^i-[0-9a-f]{17}$/);
    assert.match(newEc2Id('image'), /^ami-[0-9a-f]{17}$/);
    assert.match(newEc2Id('volume'), /^vol-[0-9a-f]{17}$/);
    assert.match(newEc2Id('snapshot'), /^snap-[0-9a-f]{17}$/);
    assert.match(newEc2Id('security-group'), /^sg-[0-9a-f]{17}$/);
    assert.equal(isEc2Id('instance', 'i-0123456789abcdef0'), true);
    assert.equal(isEc2Id('instance', 'i-12345678'), true, 'the short form older tools still use');
    assert.equal(isEc2Id('instance', 'ami-0123456789abcdef0'), false);
    assert.equal(isEc2Id('instance', 'i-0123456789ABCDEF0'), false);
    assert.equal(isEc2Id('instance', 'i-../../etc'), false);
  });

  it('every nubo state has an EC2 state with EC2\'s code', () => {
    const codes = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };
    for (const s of VM_STATES) {
      const e = ec2StateOf(s);
      assert.equal(e.code, codes[e.name], s);
    }
    assert.equal(ec2StateOf('running').name, 'running');
    assert.equal(ec2StateOf('poweroff').name, 'stopped');
    assert.equal(ec2StateOf('boot').name, 'pending');
    assert.equal(ec2StateOf('terminated').name, 'terminated');
    assert.equal(ec2StateOf('shutdown').name, 'stopping');
    assert.equal(ec2StateOf('shutdown', true).name, 'shutting-down', 'a terminate on its way never shows as stopping (the SDK\'s terminated waiter fails on stopping)');
  });

  it('the instance type table is checked and matched by size', () => {
    const t = compileInstanceTypes();
    assert.equal(instanceTypeOf(t, 1, 128), 'nubo.tiny');
    assert.equal(instanceTypeOf(t, 3, 3), 'custom');
    assert.throws(() => compileInstanceTypes([{ name: 'a.b', vcpus: 1, memoryMiB: 64 }, { name: 'a.b', vcpus: 2, memoryMiB: 64 }]), (e: Ec2ApiError) => /listed twice/.test(e.message));
    assert.throws(() => compileInstanceTypes([{ name: 'big', vcpus: 1, memoryMiB: 64 }]), (e: Ec2ApiError) => /instanceTypes\[0\]\.name/.test(e.message));
    assert.throws(() => compileInstanceTypes([{ name: 'a.b', vcpus: 0, memoryMiB: 64 }]), (e: Ec2ApiError) => /vcpus/.test(e.message));
  });

  it('an instance shows its recorded type while the VM has that type\'s size; after a resize the record missed, the type its size matches', () => {
    const t = compileInstanceTypes();
    assert.equal(shownInstanceType(t, 'nubo.small', 1, 256), 'nubo.small');
    assert.equal(shownInstanceType(t, 'nubo.tiny', 1, 256), 'nubo.small', 'resized to nubo.small, record still nubo.tiny');
    assert.equal(shownInstanceType(t, 'nubo.tiny', 3, 3), 'custom');
    assert.equal(shownInstanceType(t, 'custom', 1, 128), 'custom', 'a name the table does not have is kept');
    assert.equal(shownInstanceType(t, undefined, 1, 128), 'nubo.tiny');
  });
});
