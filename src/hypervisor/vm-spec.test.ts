import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVmSpec } from './vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';

const valid = {
  id: 'vm-1',
  vcpus: 1,
  memoryMiB: 128,
  boot: { kind: 'kernel', kernel: '/img/vmlinuz', initrd: '/img/initrd' },
  disks: [{ id: 'root', path: '/data/vm-1/disk.qcow2', format: 'qcow2' }],
  nics: [{ kind: 'tap', id: 'eth0', mac: '52:54:00:12:34:56', ifname: 'nt-vm1-0', bridge: 'br0' }],
};

function rejects(input: unknown, field: string, message?: RegExp): void {
  assert.throws(
    () => parseVmSpec(input),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.ok(err.issues.some((i) => i.field === field), `expected an issue on ${field}, got ${JSON.stringify(err.issues)}`);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

test('a valid spec is normalised with defaults', () => {
  const s = parseVmSpec(valid);
  assert.equal(s.cpuModel, 'qemu64');
  assert.equal(s.machine, 'pc');
  assert.equal(s.disks[0]?.bus, 'virtio');
  assert.equal(s.disks[0]?.cache, 'writeback');
  assert.equal(s.disks[0]?.readOnly, false);
  assert.equal(s.boot.kind === 'kernel' && s.boot.cmdline, 'console=ttyS0');
  assert.ok(Object.isFrozen(s));
});

test('bad input is rejected with the field named', () => {
  rejects({ ...valid, vcpus: 0 }, 'vcpus', /at least 1/);
  rejects({ ...valid, vcpus: 1.5 }, 'vcpus');
  rejects({ ...valid, memoryMiB: -128 }, 'memoryMiB');
  rejects({ ...valid, memoryMiB: '128M' }, 'memoryMiB');
  rejects({ ...valid, memoryMiB: 0 }, 'memoryMiB');
  rejects({ ...valid, disks: [{ ...valid.disks[0], format: 'vhdx' }] }, 'disks.0.format');
  rejects({ ...valid, disks: [{ ...valid.disks[0], path: 'relative/disk.qcow2' }] }, 'disks.0.path');
  rejects({ ...valid, disks: [{ ...valid.disks[0], path: '/data/../etc/shadow' }] }, 'disks.0.path');
  rejects({ ...valid, disks: [{ ...valid.disks[0], path: '/data/x;rm -rf' }] }, 'disks.0.path');
  rejects({ ...valid, nics: [{ ...valid.nics[0], mac: '52:54:00:12:34' }] }, 'nics.0.mac');
  rejects({ ...valid, nics: [{ ...valid.nics[0], mac: '52:54:00:GG:34:56' }] }, 'nics.0.mac');
  rejects({ ...valid, nics: [{ ...valid.nics[0], mac: '01:54:00:12:34:56' }] }, 'nics.0.mac', /unicast/);
  rejects({ ...valid, nics: [{ ...valid.nics[0], ifname: 'a-very-long-interface-name' }] }, 'nics.0.ifname');
  rejects({ ...valid, id: 'Bad ID' }, 'id');
  rejects({ ...valid, extra: 1 }, '(root)', /extra/);
  rejects({ ...valid, boot: { kind: 'floppy' } }, 'boot.kind');
  rejects({ ...valid, boot: { kind: 'disk' }, disks: [] }, 'boot');
});

test('device ids and MACs must be unique', () => {
  rejects({ ...valid, nics: [valid.nics[0], { ...valid.nics[0], id: 'eth1', ifname: 'nt-vm1-1' }] }, 'nics.1.mac', /duplicate MAC/);
  rejects({ ...valid, nics: [{ ...valid.nics[0], id: 'root' }] }, 'nics.0.id', /duplicate device id/);
});

test('user-mode networking only on lab addresses', () => {
  const nic = { kind: 'user', id: 'eth0', mac: '52:54:00:12:34:56', net: '198.18.250.0/24', forwards: [{ hostPort: 18080, guestPort: 80 }] };
  assert.doesNotThrow(() => parseVmSpec({ ...valid, nics: [nic] }));
  rejects({ ...valid, nics: [{ ...nic, net: '10.0.2.0/24' }] }, 'nics.0.net', /198\.18/);
  rejects({ ...valid, nics: [{ ...nic, net: '192.168.1.0/24' }] }, 'nics.0.net');
  rejects({ ...valid, nics: [{ ...nic, forwards: [{ hostPort: 0, guestPort: 80 }] }] }, 'nics.0.forwards.0.hostPort');
});

test('every issue is reported, not just the first', () => {
  try {
    parseVmSpec({ ...valid, vcpus: 0, memoryMiB: -1 });
    assert.fail('expected rejection');
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    assert.deepEqual(err.issues.map((i) => i.field).sort(), ['memoryMiB', 'vcpus']);
  }
});
