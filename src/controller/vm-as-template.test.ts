import { test } from 'node:test';
import assert from 'node:assert/strict';
import { templateBody } from '../contract/template-schemas.js';
import { cloneImageName } from './vm-capture.js';
import { templateBodyOf, vmAsTemplate } from './vm-as-template.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';

const ref = (id: string, format: 'qcow2' | 'kernel' | 'initrd') => ({ id, url: `http://c/api/v1/images/${id}/data`, sha256: '0'.repeat(64), sizeBytes: 1, format });

const spec: ControllerVmSpec = {
  agent: {
    vcpus: 2,
    memoryMiB: 256,
    cpuModel: 'Nehalem',
    disk: { image: ref('img-base', 'qcow2'), mode: 'copy', datastore: 'shared' },
    kernel: ref('img-k', 'kernel'),
    initrd: ref('img-i', 'initrd'),
    cmdline: 'console=ttyS0',
    nics: [
      { mac: '52:54:00:00:00:01', address: '198.18.64.5/24', bridge: 'br0' },
      { mac: '52:54:00:00:00:02' },
      { mac: '52:54:00:00:00:03', address: '198.18.65.9/24', bridge: 'br0', vlan: 7, index: 2 },
    ],
    volumes: [{ id: '00000000-0000-4000-8000-000000000001', slot: 0, sizeMiB: 16 }],
    context: { hostname: 'web-1', userData: '#!/bin/sh\necho hi\n', sshAuthorizedKeys: ['ssh-ed25519 AAAA x'] },
  },
  demand: { vcpus: 2, memoryMiB: 256, diskMiB: 0, cpuModel: 'Nehalem', requirements: 'free_memory_mb > 512', datastore: 'shared' },
  nicNetworks: ['net-a', null, 'net-b'],
};

test('a VM as a template: its settings on the new disk, NICs on its networks, nothing of its own identity', () => {
  const s = vmAsTemplate({ name: 'web-1', templateId: 'tpl-1', spec }, 'img-new');
  assert.deepEqual(s, {
    id: 'tpl-1',
    label: 'VM web-1',
    vcpus: 2,
    memoryMib: 256,
    requirements: 'free_memory_mb > 512',
    disks: [{ image: 'img-new', mode: 'copy', datastore: 'shared' }],
    nics: [{ network: 'net-a' }, {}, { network: 'net-b' }],
    context: { cpuModel: 'Nehalem', kernel: 'img-k', initrd: 'img-i', cmdline: 'console=ttyS0', userData: '#!/bin/sh\necho hi\n' },
  });
  // Addresses, MACs, hostname, keys and volumes are the VM's, not the template's.
  const text = JSON.stringify(s);
  for (const own of ['52:54:00', '198.18.', 'sshAuthorizedKeys', 'hostname', 'volumes', 'img-base']) assert.ok(!text.includes(own), `${own} is not carried over`);
});

test('a VM admitted before NICs recorded their networks, and one without options, gives defaults', () => {
  const bare: ControllerVmSpec = {
    agent: { vcpus: 1, memoryMiB: 128, disk: { image: ref('img-base', 'qcow2') }, nics: [{ mac: '52:54:00:00:00:09' }], context: { hostname: 'b' } },
    demand: { vcpus: 1, memoryMiB: 128, diskMiB: 64, cpuModel: 'qemu64' },
  };
  assert.deepEqual(vmAsTemplate({ name: 'b', templateId: null, spec: bare }, 'img-2'), {
    id: null, label: 'VM b', vcpus: 1, memoryMib: 128, requirements: null,
    disks: [{ image: 'img-2', mode: 'overlay', datastore: 'local' }], nics: [{}], context: { cpuModel: 'qemu64' },
  });
});

test('the template request of a VM passes the API\'s own template schema', () => {
  const body = templateBodyOf(vmAsTemplate({ name: 'web-1', templateId: null, spec }, 'img-new'), 'golden');
  assert.deepEqual(body, {
    name: 'golden', vcpus: 2, memoryMiB: 256, image: 'img-new', diskMode: 'copy', datastore: 'shared', cpuModel: 'Nehalem',
    nics: [{ network: 'net-a' }, {}, { network: 'net-b' }], kernel: 'img-k', initrd: 'img-i', cmdline: 'console=ttyS0', userData: '#!/bin/sh\necho hi\n',
    requirements: 'free_memory_mb > 512',
  });
  assert.equal(templateBody.safeParse(body).success, true);
  // A VM without NICs makes a template without NICs (not the schema's default of one).
  const none = templateBodyOf(vmAsTemplate({ name: 'n', templateId: null, spec: { ...spec, agent: { ...spec.agent, nics: [] }, nicNetworks: [] } }, 'i'), 'n');
  assert.deepEqual(templateBody.parse(none).nics, []);
});

test('a clone\'s image name is <clone>-disk and fits a name', () => {
  assert.equal(cloneImageName('copy'), 'copy-disk');
  const long = 'x'.repeat(63);
  assert.equal(cloneImageName(long).length, 63);
  assert.match(cloneImageName(long), /^x{58}-disk$/);
});
