import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../errors/validation-error.js';
import { runCommand } from '../util/run-command.js';
import type { ConfigDriveSpec } from './config-drive.js';
import { buildConfigDrive, renderNoCloud } from './config-drive.js';
import { GUEST_INIT } from './tiny-image/guest-init.js';

const spec: ConfigDriveSpec = {
  instanceId: 'i-0abc123',
  hostname: 'web-1',
  nics: [
    { mac: '52:54:00:AB:CD:01', addresses: ['198.18.64.10/24'], gateway: '198.18.64.1', dns: ['198.18.64.2', '198.18.64.3'] },
    { mac: '52:54:00:ab:cd:02', addresses: ['198.19.0.5/16', '2001:db8::5/64'] },
  ],
  userData: '#!/bin/sh\necho hello > /data/hello\n',
  sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITest me@host'],
};

test('renderNoCloud emits meta-data, netplan v2 network-config and user-data in block style', () => {
  const out = renderNoCloud(spec);
  assert.equal(
    out.metaData,
    [
      'instance-id: i-0abc123',
      'local-hostname: web-1',
      'public-keys:',
      '  - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITest me@host"',
      '',
    ].join('\n'),
  );
  assert.equal(
    out.networkConfig,
    [
      'version: 2',
      'ethernets:',
      '  eth0:',
      '    match:',
      '      macaddress: "52:54:00:ab:cd:01"',
      '    set-name: eth0',
      '    addresses:',
      '      - 198.18.64.10/24',
      '    gateway4: 198.18.64.1',
      '    nameservers:',
      '      addresses:',
      '        - 198.18.64.2',
      '        - 198.18.64.3',
      '  eth1:',
      '    match:',
      '      macaddress: "52:54:00:ab:cd:02"',
      '    set-name: eth1',
      '    addresses:',
      '      - 198.19.0.5/16',
      '      - 2001:db8::5/64',
      '',
    ].join('\n'),
  );
  assert.equal(out.userData, spec.userData);
});

test('renderNoCloud without NICs, keys or user-data', () => {
  const out = renderNoCloud({ instanceId: 'i-1', hostname: 'a' });
  assert.equal(out.metaData, 'instance-id: i-1\nlocal-hostname: a\n');
  assert.equal(out.networkConfig, 'version: 2\nethernets: {}\n');
  assert.equal(out.userData, '#cloud-config\n');
});

function rejectsField(s: ConfigDriveSpec, field: string): void {
  assert.throws(
    () => renderNoCloud(s),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.ok(err.issues.some((i) => i.field === field), `expected ${field} in ${err.message}`);
      return true;
    },
  );
}

test('invalid MAC, CIDR and hostname are rejected naming the field', () => {
  const nic = { mac: '52:54:00:12:34:56', addresses: ['198.18.64.10/24'] };
  rejectsField({ ...spec, nics: [{ ...nic, mac: '52:54:00:12:34' }] }, 'nics.0.mac');
  rejectsField({ ...spec, nics: [nic, { ...nic, mac: 'zz:54:00:12:34:56' }] }, 'nics.1.mac');
  rejectsField({ ...spec, nics: [{ ...nic, mac: '01:00:5e:00:00:01' }] }, 'nics.0.mac');
  rejectsField({ ...spec, nics: [nic, { ...nic }] }, 'nics.1.mac');
  rejectsField({ ...spec, nics: [{ ...nic, addresses: ['198.18.64.10'] }] }, 'nics.0.addresses.0');
  rejectsField({ ...spec, nics: [{ ...nic, addresses: ['198.18.64.10/24', '198.18.64.300/24'] }] }, 'nics.0.addresses.1');
  rejectsField({ ...spec, nics: [{ ...nic, addresses: ['198.18.64.10/33'] }] }, 'nics.0.addresses.0');
  rejectsField({ ...spec, nics: [{ ...nic, gateway: 'router' }] }, 'nics.0.gateway');
  rejectsField({ ...spec, nics: [{ ...nic, dns: ['198.18.64.2', 'x'] }] }, 'nics.0.dns.1');
  rejectsField({ ...spec, hostname: 'web_1' }, 'hostname');
  rejectsField({ ...spec, hostname: '-web' }, 'hostname');
  rejectsField({ ...spec, hostname: `${'a'.repeat(64)}.example` }, 'hostname');
  rejectsField({ ...spec, hostname: 'a..b' }, 'hostname');
  rejectsField({ ...spec, instanceId: 'i 1' }, 'instanceId');
  rejectsField({ ...spec, sshAuthorizedKeys: ['ssh-ed25519 AAAA\nx: y'] }, 'sshAuthorizedKeys.0');
  assert.doesNotThrow(() => renderNoCloud({ ...spec, hostname: 'db-2.zone-a.example' }));
});

test('the guest init awk reader understands what renderNoCloud writes', async () => {
  // The reader lives in the guest (busybox awk); any POSIX awk runs the same
  // program, which keeps the writer and the reader from drifting apart.
  const program = /awk '\n([\s\S]*?)' "\$1"/.exec(GUEST_INIT)?.[1];
  assert.ok(program, 'yaml_flat awk program not found in GUEST_INIT');
  const flat = async (text: string): Promise<string[]> =>
    (await runCommand('awk', [program], { input: text })).stdout.trim().split('\n');
  const out = renderNoCloud(spec);
  assert.deepEqual(await flat(out.networkConfig), [
    'version 2',
    'ethernets.eth0.match.macaddress 52:54:00:ab:cd:01',
    'ethernets.eth0.set-name eth0',
    'ethernets.eth0.addresses 198.18.64.10/24',
    'ethernets.eth0.gateway4 198.18.64.1',
    'ethernets.eth0.nameservers.addresses 198.18.64.2',
    'ethernets.eth0.nameservers.addresses 198.18.64.3',
    'ethernets.eth1.match.macaddress 52:54:00:ab:cd:02',
    'ethernets.eth1.set-name eth1',
    'ethernets.eth1.addresses 198.19.0.5/16',
    'ethernets.eth1.addresses 2001:db8::5/64',
  ]);
  assert.deepEqual(await flat(out.metaData), [
    'instance-id i-0abc123',
    'local-hostname web-1',
    'public-keys ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITest me@host',
  ]);
});

test('buildConfigDrive writes an ISO labelled cidata holding the three files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cidata-'));
  try {
    const iso = join(dir, 'cidata.iso');
    await buildConfigDrive(iso, spec);
    // The primary volume descriptor sits in sector 16; its volume id is at
    // offset 40, 32 bytes padded with spaces.
    const fh = await open(iso, 'r');
    const pvd = Buffer.alloc(72);
    try {
      await fh.read(pvd, 0, pvd.length, 32768);
    } finally {
      await fh.close();
    }
    assert.equal(pvd.toString('latin1', 1, 6), 'CD001');
    assert.equal(pvd.toString('latin1', 40, 72).trimEnd(), 'cidata');

    const rendered = renderNoCloud(spec);
    const read = async (name: string): Promise<string> => (await runCommand('isoinfo', ['-R', '-i', iso, '-x', `/${name}`])).stdout;
    assert.equal(await read('meta-data'), rendered.metaData);
    assert.equal(await read('network-config'), rendered.networkConfig);
    assert.equal(await read('user-data'), rendered.userData);
    // Built through a temp folder that must not be left behind.
    assert.deepEqual(await readdir(dir), ['cidata.iso']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('buildConfigDrive validates before touching the destination', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cidata-'));
  try {
    await assert.rejects(buildConfigDrive(join(dir, 'x.iso'), { ...spec, hostname: 'bad_host' }), ValidationError);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
