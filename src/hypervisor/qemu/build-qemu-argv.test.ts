import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildQemuArgv, diskDevices, nicDevices } from './build-qemu-argv.js';
import { parseNicSpec } from '../vm-spec.js';
import { parseVmSpec } from '../vm-spec.js';
import { vmPaths } from './vm-paths.js';

const paths = vmPaths('/run/nubo', 'vm-1');
const spec = parseVmSpec({
  id: 'vm-1',
  vcpus: 2,
  memoryMiB: 256,
  cpuModel: 'qemu64',
  boot: { kind: 'kernel', kernel: '/img/vmlinuz', initrd: '/img/initrd', cmdline: 'console=ttyS0 quiet' },
  disks: [
    { id: 'root', path: '/ds/vm-1/root.qcow2', format: 'qcow2' },
    { id: 'scratch', path: '/ds/vm-1/s.raw', format: 'raw', cache: 'none', readOnly: true, bus: 'scsi' },
  ],
  nics: [
    { kind: 'tap', id: 'eth0', mac: '52:54:00:00:00:01', ifname: 'tap-vm1', bridge: 'br0' },
    { kind: 'user', id: 'eth1', mac: '52:54:00:00:00:02', net: '198.18.250.0/24', forwards: [{ hostPort: 18080, guestPort: 80 }] },
  ],
  configDrive: '/ds/vm-1/cidata.iso',
});

function after(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
}

test('machine, CPU, memory and accelerator', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths });
  // The guest's RAM in a memfd named as QEMU names a machine's default RAM block: live migration to and from a QEMU
  // without the backend still finds `pc.ram`.
  assert.deepEqual(after(argv, '-machine'), ['pc,accel=tcg,memory-backend=pc.ram']);
  assert.deepEqual(after(argv, '-object'), ['memory-backend-memfd,id=pc.ram,size=256M,share=on']);
  assert.deepEqual(after(argv, '-cpu'), ['qemu64']);
  assert.deepEqual(after(argv, '-smp'), ['2']);
  assert.deepEqual(after(argv, '-m'), ['256M']);
  assert.deepEqual(after(argv, '-name'), ['guest=vm-1,debug-threads=on']);
  assert.ok(argv.includes('-daemonize'));
  assert.ok(argv.includes('-nodefaults'));
  assert.deepEqual(after(argv, '-qmp'), ['unix:/run/nubo/vm-1/qmp.sock,server=on,wait=off']);
  assert.deepEqual(after(argv, '-pidfile'), ['/run/nubo/vm-1/qemu.pid']);
  // A second QMP monitor of its own for the fd sender (getfd must be followed by migrate on the same monitor).
  assert.ok(after(argv, '-chardev').includes('socket,id=fdpass,path=/run/nubo/vm-1/fdpass.sock,server=on,wait=off'));
  assert.deepEqual(after(argv, '-mon'), ['chardev=fdpass,mode=control']);
  assert.deepEqual(after(argv, '-display'), ['none']);
  assert.ok(!argv.includes('-S'));
  assert.ok(!argv.includes('-incoming'));
});

test('direct kernel boot', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths });
  assert.deepEqual(after(argv, '-kernel'), ['/img/vmlinuz']);
  assert.deepEqual(after(argv, '-initrd'), ['/img/initrd']);
  assert.deepEqual(after(argv, '-append'), ['console=ttyS0 quiet']);
});

test('disks become file + format block nodes and a device, cache and read-only honoured', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths });
  const nodes = after(argv, '-blockdev').map((j) => JSON.parse(j) as Record<string, unknown>);
  assert.equal(nodes.length, 6); // two disks and the config drive, two nodes each
  assert.deepEqual(nodes[0], { driver: 'file', filename: '/ds/vm-1/root.qcow2', 'node-name': 'f-root', 'read-only': false, cache: { direct: false, 'no-flush': false } });
  assert.deepEqual(nodes[1], { driver: 'qcow2', 'node-name': 'd-root', file: 'f-root', 'read-only': false, cache: { direct: false, 'no-flush': false } });
  assert.deepEqual(nodes[3], { driver: 'raw', 'node-name': 'd-scratch', file: 'f-scratch', 'read-only': true, cache: { direct: true, 'no-flush': false } });
  assert.deepEqual(nodes[5], { driver: 'raw', 'node-name': 'd-cidata', file: 'f-cidata', 'read-only': true, cache: { direct: false, 'no-flush': false } });
  const devices = after(argv, '-device');
  assert.ok(devices.includes('virtio-scsi-pci,id=scsi0'));
  assert.ok(devices.includes('virtio-blk-pci,drive=d-root,id=root,write-cache=on'));
  assert.ok(devices.includes('scsi-hd,bus=scsi0.0,drive=d-scratch,id=scratch,write-cache=on'));
  assert.ok(devices.includes('virtio-blk-pci,drive=d-cidata,id=cidata,write-cache=on'));
});

test('NICs: TAP with MAC, user-mode restricted with loopback-only forwards', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths });
  const netdevs = after(argv, '-netdev');
  assert.equal(netdevs[0], 'tap,id=n-eth0,ifname=tap-vm1,script=no,downscript=no');
  assert.equal(netdevs[1], 'user,id=n-eth1,net=198.18.250.0/24,host=198.18.250.2,restrict=on,hostfwd=tcp:127.0.0.1:18080-198.18.250.15:80');
  const devices = after(argv, '-device');
  assert.ok(devices.includes('virtio-net-pci,netdev=n-eth0,mac=52:54:00:00:00:01,id=eth0,romfile='));
  assert.ok(devices.includes('virtio-net-pci,netdev=n-eth1,mac=52:54:00:00:00:02,id=eth1,romfile='));
  assert.match(buildQemuArgv(spec, { accel: 'kvm', paths }).join(' '), /script=no,downscript=no,vhost=on/);
});

test('paused start and incoming migration', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths, paused: true, incoming: 'defer' });
  assert.ok(argv.includes('-S'));
  assert.deepEqual(after(argv, '-incoming'), ['defer']);
  assert.ok(!argv.includes('migration.x-events=on'), 'a live migration\'s destination sets its own capabilities');
});

test('a restore has MIGRATION events from its start: the end of its load is told before QMP is even connected', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths, paused: true, incoming: 'fd:3', migrationEvents: true });
  assert.deepEqual(after(argv, '-global'), ['migration.x-events=on']);
  assert.deepEqual(after(argv, '-incoming'), ['fd:3']);
});

test('a restore keeps the direct kernel boot: the guest\'s next reset boots from what fw_cfg hands the firmware', () => {
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths, paused: true, incoming: 'fd:3', migrationEvents: true });
  assert.deepEqual(after(argv, '-kernel'), ['/img/vmlinuz']);
  assert.deepEqual(after(argv, '-initrd'), ['/img/initrd']);
  assert.deepEqual(after(argv, '-append'), ['console=ttyS0 quiet']);
});

test('the same spec gives the same argv (a migration destination depends on it)', () => {
  assert.deepEqual(buildQemuArgv(spec, { accel: 'tcg', paths }), buildQemuArgv(parseVmSpec(JSON.parse(JSON.stringify(spec))), { accel: 'tcg', paths }));
});

test('writethrough cache turns the device write cache off; IDE disks get bus and unit', () => {
  const d = diskDevices({ id: 'x', path: '/a', format: 'raw', bus: 'ide', cache: 'writethrough', readOnly: false }, 3);
  assert.deepEqual(d.device, { driver: 'ide-hd', bus: 'ide.1', unit: 1, drive: 'd-x', id: 'x', 'write-cache': 'off' });
});

test('a NIC with a PCI slot gets that address; hot-plug uses the same backend and device as the command line', () => {
  const tap = parseNicSpec({ kind: 'tap', id: 'nic2', mac: '52:54:00:00:00:03', ifname: 'nt1-2', bridge: 'br0', pciSlot: 0x12 });
  const argv = buildQemuArgv(parseVmSpec({ ...spec, nics: [tap] }), { accel: 'tcg', paths });
  assert.ok(after(argv, '-device').includes('virtio-net-pci,netdev=n-nic2,mac=52:54:00:00:00:03,id=nic2,romfile=,addr=0x12'));
  const d = nicDevices(tap, 'tcg');
  assert.equal(d.netdevArg, after(argv, '-netdev')[0]);
  assert.deepEqual(d.netdev, { type: 'tap', id: 'n-nic2', ifname: 'nt1-2', script: 'no', downscript: 'no' });
  assert.deepEqual(d.device, { driver: 'virtio-net-pci', netdev: 'n-nic2', mac: '52:54:00:00:00:03', id: 'nic2', romfile: '', addr: '0x12' });
  assert.equal(nicDevices(tap, 'kvm').netdev['vhost'], true);
  const user = nicDevices(parseNicSpec({ kind: 'user', id: 'u0', mac: '52:54:00:00:00:04', net: '198.18.250.0/24', forwards: [{ hostPort: 18080, guestPort: 80 }] }), 'tcg');
  assert.deepEqual(user.netdev, { type: 'user', id: 'n-u0', net: '198.18.250.0/24', host: '198.18.250.2', restrict: true, hostfwd: [{ str: 'tcp:127.0.0.1:18080-198.18.250.15:80' }] });
  assert.throws(() => parseVmSpec({ ...spec, nics: [tap, { ...tap, id: 'nic3', mac: '52:54:00:00:00:05', ifname: 'nt1-3' }] }), /duplicate PCI slot 18/);
});

test('a restore of format 2 shares the RAM it is handed (the fd sender\'s memfd), and q35 keeps its RAM block\'s name', () => {
  const argv = buildQemuArgv(parseVmSpec({ ...spec, machine: 'q35' }), { accel: 'tcg', paths, incoming: 'defer', ramPath: '/proc/42/fd/7' });
  assert.deepEqual(after(argv, '-machine'), ['q35,accel=tcg,memory-backend=pc.ram']);
  assert.deepEqual(after(argv, '-object'), ['memory-backend-file,id=pc.ram,size=256M,mem-path=/proc/42/fd/7,share=on,align=2M']);
  assert.deepEqual(after(argv, '-m'), ['256M']);
  assert.deepEqual(after(argv, '-incoming'), ['defer']);
});

test('a fresh boot and a live migration\'s destination on the fd sender\'s memfd: memory-backend-file, align=2M, still pc.ram', () => {
  const fresh = buildQemuArgv(spec, { accel: 'tcg', paths, ramPath: '/proc/42/fd/9' });
  assert.deepEqual(after(fresh, '-machine'), ['pc,accel=tcg,memory-backend=pc.ram']);
  assert.deepEqual(after(fresh, '-object'), ['memory-backend-file,id=pc.ram,size=256M,mem-path=/proc/42/fd/9,share=on,align=2M']);
  assert.ok(!fresh.includes('-incoming') && !fresh.includes('-S'));
  const dest = buildQemuArgv(spec, { accel: 'tcg', paths, paused: true, incoming: 'defer', ramPath: '/proc/42/fd/10' });
  assert.deepEqual(after(dest, '-object'), ['memory-backend-file,id=pc.ram,size=256M,mem-path=/proc/42/fd/10,share=on,align=2M']);
  assert.deepEqual(after(dest, '-incoming'), ['defer']);
  // The same device model as a source on QEMU's own memfd: only the backend's object differs.
  const own = buildQemuArgv(spec, { accel: 'tcg', paths, paused: true, incoming: 'defer' });
  assert.deepEqual(dest.filter((a) => !a.startsWith('memory-backend-')), own.filter((a) => !a.startsWith('memory-backend-')));
});

test('the serial console is logged, appended to, in the spec\'s consoleLog when it has one, else in the run directory', () => {
  const chardev = (s: typeof spec): string | undefined => after(buildQemuArgv(s, { accel: 'tcg', paths }), '-chardev').find((c) => c.startsWith('socket,id=console0,'));
  assert.equal(chardev(spec), `socket,id=console0,path=${paths.consoleSocket},server=on,wait=off,logfile=/run/nubo/vm-1/serial.log,logappend=on`);
  const kept = parseVmSpec({ ...spec, consoleLog: '/ds/vms/vm-1/console.log' });
  assert.equal(chardev(kept), `socket,id=console0,path=${paths.consoleSocket},server=on,wait=off,logfile=/ds/vms/vm-1/console.log,logappend=on`);
});
