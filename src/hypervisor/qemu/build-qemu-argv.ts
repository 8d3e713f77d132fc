import type { DiskSpec, NicSpec, VmSpec } from '../vm-spec.js';
import type { VmPaths } from './vm-paths.js';
import { formatIpv4, parseCidr } from '../../network/ipv4.js';

export interface QemuArgvOptions {
  readonly accel: 'kvm' | 'tcg';
  readonly paths: VmPaths;
  /** Start with vCPUs stopped (`-S`). */
  readonly paused?: boolean;
  /** `-incoming` argument: `defer` for live migration, `fd:…` to restore saved state. */
  readonly incoming?: string;
  /** MIGRATION events from the start (the `events` capability, on before QMP is connected): a restore's end is told, not polled for. */
  readonly migrationEvents?: boolean;
  /**
   * Where the guest's RAM lives: a memfd of QEMU's own (the default), or a file QEMU opens and shares — a restore of
   * format 2 hands it the fd sender's memfd, filled from the state file, as `/proc/<pid>/fd/<n>` (docs/suspend.md).
   */
  readonly ramPath?: string | undefined;
}

/**
 * The guest RAM's backend id: `pc.ram` is the name QEMU gives the RAM block of a machine without a backend (pc and
 * q35 alike), so a live migration to or from a QEMU started without one (an older agent's) finds its RAM block.
 */
export const GUEST_RAM_ID = 'pc.ram';

/**
 * The QEMU command line for a validated spec, as an argv array (no shell is
 * involved). Pure: the same spec gives the same argv, which is what a
 * migration destination relies on to build an identical device model.
 * Devices get stable ids (`d-<disk>`, `n-<nic>`) so that QMP can address them.
 */
export function buildQemuArgv(spec: VmSpec, opts: QemuArgvOptions): string[] {
  const { paths } = opts;
  const argv: string[] = [
    '-name', `guest=${spec.id},debug-threads=on`,
    // Guest RAM in shared memory (a memfd, or the restore's file): a save copies it out itself, beside QEMU's stream
    // of the device state alone (x-ignore-shared skips shared RAM blocks), and a restore hands QEMU RAM already filled.
    '-machine', `${spec.machine},accel=${opts.accel},memory-backend=${GUEST_RAM_ID}`,
    '-object', opts.ramPath === undefined
      ? `memory-backend-memfd,id=${GUEST_RAM_ID},size=${spec.memoryMiB}M,share=on`
      // align=2M: QEMU maps a file at its page size (4 KiB for shmem), and a mapping off a 2 MiB boundary cannot take
      // transparent huge pages whatever the policy (memory-backend-memfd has no such option: see docs/suspend.md).
      : `memory-backend-file,id=${GUEST_RAM_ID},size=${spec.memoryMiB}M,mem-path=${opts.ramPath},share=on,align=2M`,
    '-cpu', spec.cpuModel,
    '-smp', String(spec.vcpus),
    '-m', `${spec.memoryMiB}M`,
    '-nodefaults', '-no-user-config',
    '-daemonize', '-pidfile', paths.pidFile,
    '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`,
    // The fd sender's own monitor (a save hands QEMU its state file there): the agent's is never shared with it.
    '-chardev', `socket,id=fdpass,path=${paths.fdpassSocket},server=on,wait=off`,
    '-mon', 'chardev=fdpass,mode=control',
    // The console is both a socket (interactive `vm console`) and a log (boot output, readiness marker).
    '-chardev', `socket,id=console0,path=${paths.consoleSocket},server=on,wait=off,logfile=${spec.consoleLog ?? paths.serialLog},logappend=on`,
    '-serial', 'chardev:console0',
  ];
  if (spec.vnc) argv.push('-vga', 'std', '-vnc', `unix:${paths.vncSocket}`);
  else argv.push('-display', 'none');

  // Kept for a restore too, though its RAM comes from the state: the kernel is what fw_cfg hands the firmware on the
  // guest's next reset, and a restore without it (tried: 5-9 ms less to start) boots nothing after a reboot.
  if (spec.boot.kind === 'kernel') {
    argv.push('-kernel', spec.boot.kernel);
    if (spec.boot.initrd !== undefined) argv.push('-initrd', spec.boot.initrd);
    argv.push('-append', spec.boot.cmdline);
  }
  if (spec.disks.some((d) => d.bus === 'scsi')) argv.push('-device', 'virtio-scsi-pci,id=scsi0');
  spec.disks.forEach((d, i) => argv.push(...diskArgs(d, i)));
  if (spec.configDrive !== undefined) {
    argv.push(...diskArgs({ id: 'cidata', path: spec.configDrive, format: 'raw', bus: 'virtio', cache: 'writeback', readOnly: true }, spec.disks.length));
  }
  for (const nic of spec.nics) argv.push(...nicArgs(nic, opts.accel));

  if (opts.paused) argv.push('-S');
  if (opts.migrationEvents === true) argv.push('-global', 'migration.x-events=on');
  if (opts.incoming !== undefined) argv.push('-incoming', opts.incoming);
  return argv;
}

export interface DiskDevices {
  /** `-blockdev` / `blockdev-add` arguments: the file node, then the format node on top of it. */
  readonly fileNode: Record<string, unknown>;
  readonly formatNode: Record<string, unknown>;
  /** `-device` / `device_add` arguments. */
  readonly device: { readonly driver: string; readonly id: string } & Record<string, string | number>;
}

/**
 * Block nodes and guest device of one disk, as objects: the command line and
 * hot-plug over QMP are built from the same description.
 */
export function diskDevices(d: DiskSpec, ideIndex: number): DiskDevices {
  const direct = d.cache === 'none' || d.cache === 'directsync';
  const cache = { direct, 'no-flush': d.cache === 'unsafe' };
  const fileNode = { driver: 'file', filename: d.path, 'node-name': `f-${d.id}`, 'read-only': d.readOnly, cache };
  const formatNode = { driver: d.format, 'node-name': `d-${d.id}`, file: `f-${d.id}`, 'read-only': d.readOnly, cache };
  const common = { drive: `d-${d.id}`, id: d.id, 'write-cache': d.cache === 'writethrough' || d.cache === 'directsync' ? 'off' : 'on' };
  const boot = d.bootIndex === undefined ? {} : { bootindex: d.bootIndex };
  const bus =
    d.bus === 'virtio' ? { driver: 'virtio-blk-pci', ...(d.pciSlot !== undefined ? { addr: `0x${d.pciSlot.toString(16)}` } : {}) }
    : d.bus === 'scsi' ? { driver: 'scsi-hd', bus: 'scsi0.0' }
    : { driver: 'ide-hd', bus: `ide.${Math.floor(ideIndex / 2)}`, unit: ideIndex % 2 };
  return { fileNode, formatNode, device: { ...bus, ...common, ...boot } };
}

function diskArgs(d: DiskSpec, ideIndex: number): string[] {
  const { fileNode, formatNode, device } = diskDevices(d, ideIndex);
  const { driver, ...props } = device;
  const deviceArg = [driver, ...Object.entries(props).map(([k, v]) => `${k}=${v}`)].join(',');
  return ['-blockdev', JSON.stringify(fileNode), '-blockdev', JSON.stringify(formatNode), '-device', deviceArg];
}

export interface NicDevices {
  /** `-netdev` argument. */
  readonly netdevArg: string;
  /** `netdev_add` arguments: the same backend as `netdevArg`. */
  readonly netdev: { readonly type: 'tap' | 'user'; readonly id: string } & Record<string, unknown>;
  /** `-device` / `device_add` arguments. */
  readonly device: { readonly driver: string; readonly id: string } & Record<string, string>;
}

/**
 * Backend and guest device of one NIC: the command line and hot-plug over QMP
 * are built from the same description, so a hot-plugged NIC is the device a
 * migration destination or the next boot creates from the spec.
 */
export function nicDevices(nic: NicSpec, accel: 'kvm' | 'tcg'): NicDevices {
  const model = nic.model === 'virtio' ? 'virtio-net-pci' : 'e1000';
  const id = `n-${nic.id}`;
  let netdevArg: string;
  let netdev: NicDevices['netdev'];
  if (nic.kind === 'tap') {
    // vhost-net only helps (and only works) with KVM.
    const vhost = accel === 'kvm';
    netdevArg = `tap,id=${id},ifname=${nic.ifname},script=no,downscript=no${vhost ? ',vhost=on' : ''}`;
    netdev = { type: 'tap', id, ifname: nic.ifname, script: 'no', downscript: 'no', ...(vhost ? { vhost: true } : {}) };
  } else {
    const net = parseCidr(nic.net)!;
    const size = 2 ** (32 - net.prefix);
    const base = net.address - (net.address % size);
    const fwds = nic.forwards.map((f) => `tcp:127.0.0.1:${f.hostPort}-${f.guestAddress ?? formatIpv4(base + 15)}:${f.guestPort}`);
    // restrict=on: the guest reaches nothing outside the VM but the forwarded ports.
    netdevArg = `user,id=${id},net=${formatIpv4(base)}/${net.prefix},host=${formatIpv4(base + 2)},restrict=on${fwds.map((f) => `,hostfwd=${f}`).join('')}`;
    netdev = { type: 'user', id, net: `${formatIpv4(base)}/${net.prefix}`, host: formatIpv4(base + 2), restrict: true, ...(fwds.length > 0 ? { hostfwd: fwds.map((str) => ({ str })) } : {}) };
  }
  // romfile= drops the iPXE option ROM: nubo never network-boots, and it costs ~0.45 s of every boot under TCG.
  const device = { driver: model, netdev: id, mac: nic.mac, id: nic.id, romfile: '', ...(nic.pciSlot !== undefined ? { addr: `0x${nic.pciSlot.toString(16)}` } : {}) };
  return { netdevArg, netdev, device };
}

function nicArgs(nic: NicSpec, accel: 'kvm' | 'tcg'): string[] {
  const { netdevArg, device } = nicDevices(nic, accel);
  const { driver, ...props } = device;
  return ['-netdev', netdevArg, '-device', [driver, ...Object.entries(props).map(([k, v]) => `${k}=${v}`)].join(',')];
}
