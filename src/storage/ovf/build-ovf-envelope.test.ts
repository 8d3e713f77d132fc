import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOMParser } from '@xmldom/xmldom';
import { buildOvfEnvelope } from './build-ovf-envelope.js';
import type { OvfEnvelope } from './ovf-envelope.js';
import { OVF_NS, RASD_NS, VMDK_STREAM_OPTIMIZED } from './ovf-namespaces.js';
import { parseOvfEnvelope } from './parse-ovf-envelope.js';

const env: OvfEnvelope = {
  files: [{ id: 'file1', href: 'web-disk1.vmdk', size: 138752 }, { id: 'kernel', href: 'web-kernel', size: 4096 }],
  disks: [{ id: 'vmdisk1', capacityBytes: 64 << 20, fileRef: 'file1', format: VMDK_STREAM_OPTIMIZED }],
  networks: ['blue'],
  system: {
    id: 'web',
    name: 'web & <co> "1"',
    vcpus: 2,
    memoryMiB: 384,
    diskIds: ['vmdisk1'],
    nics: [{ network: 'blue' }, {}],
    nubo: { cpuModel: 'qemu64', diskMode: 'overlay', datastore: 'shared', kernelFileRef: 'kernel', cmdline: 'console=ttyS0 x=<y>', userData: '#!/bin/sh\r\necho \u0001 é\n', requirements: 'free_memory_mb > 512' },
  },
};

test('what buildOvfEnvelope writes, parseOvfEnvelope reads back unchanged (escaping, control characters, CR LF)', () => {
  assert.deepEqual(parseOvfEnvelope(buildOvfEnvelope(env)), env);
  const bare: OvfEnvelope = { files: [], disks: [{ id: 'd', capacityBytes: 512 }], networks: [], system: { id: 's', name: 's', vcpus: 1, memoryMiB: 16, diskIds: ['d'], nics: [] } };
  assert.deepEqual(parseOvfEnvelope(buildOvfEnvelope(bare)), bare);
});

test('the descriptor is OVF 1.x as importers expect it: declared namespaces, one controller for the disk, rasd elements in schema order', () => {
  const xml = buildOvfEnvelope(env);
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<Envelope /);
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const root = doc.documentElement!;
  assert.equal(root.namespaceURI, OVF_NS);
  assert.equal(root.getAttribute('xmlns:ovf'), OVF_NS);
  const items = Array.from(doc.getElementsByTagNameNS(OVF_NS, 'Item'));
  assert.deepEqual(items.map((i) => i.getElementsByTagNameNS(RASD_NS, 'ResourceType')[0]?.textContent), ['3', '4', '5', '17', '10', '10']);
  for (const item of items) {
    const names = Array.from(item.childNodes).filter((n) => n.nodeType === 1).map((n) => (n as unknown as { localName: string }).localName);
    assert.deepEqual(names, [...names].sort(), `rasd elements in alphabetical (schema) order: ${names.join(' ')}`);
  }
  const disk = items[3]!;
  assert.equal(disk.getElementsByTagNameNS(RASD_NS, 'Parent')[0]?.textContent, items[2]!.getElementsByTagNameNS(RASD_NS, 'InstanceID')[0]?.textContent, 'the disk hangs off the IDE controller');
  const ids = items.map((i) => i.getElementsByTagNameNS(RASD_NS, 'InstanceID')[0]?.textContent);
  assert.equal(new Set(ids).size, ids.length, 'InstanceIDs are unique');
  assert.match(xml, /<nubo:TemplateSection ovf:required="false">/);
  assert.match(xml, /ovf:capacity="67108864" ovf:capacityAllocationUnits="byte"/);
});
