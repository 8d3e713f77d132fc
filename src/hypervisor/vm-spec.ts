import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../errors/validation-error.js';
import { isLabAddress, parseCidr } from '../network/ipv4.js';
import { vmIdSchema } from '../core/vm-id.js';

/**
 * What a hypervisor needs to run one VM. Paths are absolute; the driver checks
 * them against its allowed directories before anything starts.
 */

const id = vmIdSchema;
// QEMU node names are capped at 31 characters and we prefix them, hence 24.
const deviceId = z.string().regex(/^[a-z][a-z0-9-]{0,23}$/, 'must be 1-24 chars of a-z, 0-9 and -, starting with a letter');
// Paths end up in QEMU option strings and `exec:` URIs: keep them to a plain character set.
const absPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._/+@-]*$/, 'must be an absolute path of letters, digits and ._/+@-')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const mac = z
  .string()
  .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'must be a MAC address like 52:54:00:12:34:56 (lower-case hex)')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, 'must be a unicast MAC (first octet even)');
const ifname = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a Linux interface name (1-15 chars)');
const port = z.number().int().min(1).max(65535);

export const diskSpecSchema = z.strictObject({
  id: deviceId,
  path: absPath,
  format: z.enum(['qcow2', 'raw']),
  bus: z.enum(['virtio', 'scsi', 'ide']).default('virtio'),
  cache: z.enum(['none', 'writeback', 'writethrough', 'directsync', 'unsafe']).default('writeback'),
  readOnly: z.boolean().default(false),
  bootIndex: z.number().int().min(0).max(64).optional(),
  /** PCI slot on bus 0 (virtio only): fixed, so that a hot-plugged disk sits where the next boot or a migration destination puts it. */
  pciSlot: z.number().int().min(2).max(31).optional(),
});

const tapNic = z.strictObject({
  kind: z.literal('tap'),
  id: deviceId,
  mac,
  model: z.enum(['virtio', 'e1000']).default('virtio'),
  ifname,
  /** Bridge to enslave the TAP to; the driver creates the TAP and removes it on destroy. */
  bridge: ifname.optional(),
  /** 802.1Q VLAN: the TAP is an untagged access port of it on the (VLAN-filtering) bridge; needs `bridge`. */
  vlan: z.number().int().min(1).max(4094).optional(),
  /** PCI slot of the device on bus 0: fixed, so that a hot-plugged NIC sits where a booted or migrated copy of the VM will have it. */
  pciSlot: z.number().int().min(2).max(31).optional(),
});

const userNic = z.strictObject({
  kind: z.literal('user'),
  id: deviceId,
  mac,
  model: z.enum(['virtio', 'e1000']).default('virtio'),
  /** Slirp network; only lab addresses (198.18.0.0/15) are accepted. */
  net: z.string().refine((c) => {
    const p = parseCidr(c);
    return p !== undefined && isLabAddress(p.address) && p.prefix >= 8 && p.prefix <= 30;
  }, 'must be a CIDR inside 198.18.0.0/15, e.g. 198.18.250.0/24'),
  /** host loopback port → guest port forwards (TCP). */
  forwards: z.array(z.strictObject({ hostPort: port, guestPort: port, guestAddress: z.string().optional() })).max(16).default([]),
  /** PCI slot of the device on bus 0: fixed, so that a hot-plugged NIC sits where a booted or migrated copy of the VM will have it. */
  pciSlot: z.number().int().min(2).max(31).optional(),
});

export const nicSpecSchema = z.discriminatedUnion('kind', [tapNic, userNic]);

const kernelBoot = z.strictObject({
  kind: z.literal('kernel'),
  kernel: absPath,
  initrd: absPath.optional(),
  cmdline: z.string().max(2048).regex(/^[^\n\0]*$/, 'must be one line').default('console=ttyS0'),
});
const diskBoot = z.strictObject({ kind: z.literal('disk') });

export const vmSpecSchema = z
  .strictObject({
    id,
    vcpus: z.number().int().min(1, 'must be at least 1').max(64),
    memoryMiB: z.number().int('must be a whole number of MiB').min(16, 'must be at least 16 MiB').max(1024 * 1024),
    cpuModel: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'must be a QEMU CPU model name').default('qemu64'),
    machine: z.enum(['pc', 'q35']).default('pc'),
    boot: z.discriminatedUnion('kind', [kernelBoot, diskBoot]),
    disks: z.array(diskSpecSchema).max(16).default([]),
    nics: z.array(nicSpecSchema).max(8).default([]),
    /** NoCloud ISO, attached read-only. */
    configDrive: absPath.optional(),
    /**
     * Where the serial console is logged, appended to across launches (the agent's per-VM file, kept for the VM's
     * life); default: `serial.log` in the driver's run directory, made afresh at every launch. Its directory must exist.
     */
    consoleLog: absPath.optional(),
    vnc: z.boolean().default(false),
    /** Network namespace QEMU runs in (one per lab host). */
    netns: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a network namespace name').optional(),
  })
  .superRefine((s, ctx) => {
    // Device ids name QEMU devices and block nodes: one namespace for disks and NICs.
    const seen = new Set<string>();
    const unique = (list: 'disks' | 'nics', i: number, devId: string): void => {
      if (seen.has(devId)) ctx.addIssue({ code: 'custom', path: [list, i, 'id'], message: `duplicate device id ${devId}` });
      seen.add(devId);
    };
    s.disks.forEach((d, i) => unique('disks', i, d.id));
    s.nics.forEach((n, i) => unique('nics', i, n.id));
    const macs = new Set<string>();
    s.nics.forEach((n, i) => {
      if (macs.has(n.mac)) ctx.addIssue({ code: 'custom', path: ['nics', i, 'mac'], message: `duplicate MAC ${n.mac}` });
      macs.add(n.mac);
      if (n.kind === 'tap' && n.vlan !== undefined && n.bridge === undefined) ctx.addIssue({ code: 'custom', path: ['nics', i, 'vlan'], message: 'a VLAN needs a bridge' });
    });
    // Fixed PCI slots: one bus for disks and NICs.
    const slots = new Set<number>();
    const slotOnce = (list: 'disks' | 'nics', i: number, slot: number | undefined): void => {
      if (slot === undefined) return;
      if (slots.has(slot)) ctx.addIssue({ code: 'custom', path: [list, i, 'pciSlot'], message: `duplicate PCI slot ${slot}` });
      slots.add(slot);
    };
    s.disks.forEach((d, i) => slotOnce('disks', i, d.pciSlot));
    s.nics.forEach((n, i) => slotOnce('nics', i, n.pciSlot));
    if (s.boot.kind === 'disk' && s.disks.length === 0) ctx.addIssue({ code: 'custom', path: ['boot'], message: 'disk boot needs at least one disk' });
  });

export type VmSpecInput = z.input<typeof vmSpecSchema>;
export type VmSpec = Readonly<z.output<typeof vmSpecSchema>>;
export type DiskSpec = Readonly<z.output<typeof diskSpecSchema>>;
export type DiskSpecInput = z.input<typeof diskSpecSchema>;
export type NicSpec = Readonly<z.output<typeof nicSpecSchema>>;
export type NicSpecInput = z.input<typeof nicSpecSchema>;

/** Turns zod's issues into ours: a dotted field path and a sentence. */
export function zodIssues(err: z.ZodError): FieldIssue[] {
  return err.issues.map((i) => ({ field: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/** Validates and normalises (defaults filled in) a VM spec; throws ValidationError naming each bad field. */
export function parseVmSpec(input: unknown): VmSpec {
  const r = vmSpecSchema.safeParse(input);
  if (!r.success) throw new ValidationError('VM spec', zodIssues(r.error));
  return Object.freeze(r.data);
}

/** Validates one disk for hot-plug. */
export function parseDiskSpec(input: unknown): DiskSpec {
  const r = diskSpecSchema.safeParse(input);
  if (!r.success) throw new ValidationError('disk spec', zodIssues(r.error));
  return Object.freeze(r.data);
}

/** Validates one NIC for hot-plug. */
export function parseNicSpec(input: unknown): NicSpec {
  const r = nicSpecSchema.safeParse(input);
  if (!r.success) throw new ValidationError('NIC spec', zodIssues(r.error));
  return Object.freeze(r.data);
}

/** Every host path a spec refers to, with the field that names it. */
export function specPaths(spec: VmSpec): { field: string; path: string }[] {
  const out: { field: string; path: string }[] = [];
  if (spec.boot.kind === 'kernel') {
    out.push({ field: 'boot.kernel', path: spec.boot.kernel });
    if (spec.boot.initrd !== undefined) out.push({ field: 'boot.initrd', path: spec.boot.initrd });
  }
  spec.disks.forEach((d, i) => out.push({ field: `disks.${i}.path`, path: d.path }));
  if (spec.configDrive !== undefined) out.push({ field: 'configDrive', path: spec.configDrive });
  return out;
}
