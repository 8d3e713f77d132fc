import { join } from 'node:path';
import type { TinyImage } from './tiny-image/build-tiny-image.js';
import { buildConfigDrive } from './config-drive.js';
import { createOverlay } from './qemu-img.js';
import type { VmSpecInput } from '../hypervisor/vm-spec.js';
import type { WaitOptions } from '../util/deadline.js';

export type TinyVmNic = {
  readonly mac: string;
  /** The guest's address, CIDR (a lab address). */
  readonly address: string;
  readonly gateway?: string;
} & (
  | { readonly kind: 'user'; readonly forwards: readonly { hostPort: number; guestPort: number }[] }
  | { readonly kind: 'tap'; readonly ifname: string; readonly bridge?: string }
);

export interface PrepareTinyVmOptions extends WaitOptions {
  readonly image: TinyImage;
  /** Where the VM's overlay disk and config drive are written (an allowed directory of the driver). */
  readonly dir: string;
  readonly id: string;
  readonly hostname?: string;
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  readonly nics?: readonly TinyVmNic[];
  readonly userData?: string;
  readonly netns?: string;
}

/**
 * Makes what one nubo-tiny VM needs — a copy-on-write overlay of the image's
 * data disk and a NoCloud config drive — and returns the VM spec to start it.
 * For tests, benchmarks and the developer `hv boot` command; the agent does
 * the same through its datastores.
 */
export async function prepareTinyVm(o: PrepareTinyVmOptions): Promise<VmSpecInput> {
  const disk = join(o.dir, `${o.id}.qcow2`);
  const iso = join(o.dir, `${o.id}-cidata.iso`);
  const nics = o.nics ?? [];
  await createOverlay(o.image.dataDisk, 'qcow2', disk, o);
  await buildConfigDrive(
    iso,
    {
      instanceId: o.id,
      hostname: o.hostname ?? o.id,
      nics: nics.map((n) => ({ mac: n.mac, addresses: [n.address], ...(n.gateway !== undefined ? { gateway: n.gateway } : {}) })),
      ...(o.userData !== undefined ? { userData: o.userData } : {}),
    },
    { ...(o.signal ? { signal: o.signal } : {}) },
  );
  return {
    id: o.id,
    vcpus: o.vcpus ?? 1,
    memoryMiB: o.memoryMiB ?? 128,
    boot: { kind: 'kernel', kernel: o.image.kernel, initrd: o.image.initrd, cmdline: o.image.cmdline },
    disks: [{ id: 'data', path: disk, format: 'qcow2' }],
    configDrive: iso,
    nics: nics.map((n, i) =>
      n.kind === 'user'
        ? { kind: 'user' as const, id: `eth${i}`, mac: n.mac, net: n.address, forwards: n.forwards.map((f) => ({ ...f, guestAddress: n.address.split('/')[0]! })) }
        : { kind: 'tap' as const, id: `eth${i}`, mac: n.mac, ifname: n.ifname, ...(n.bridge !== undefined ? { bridge: n.bridge } : {}) },
    ),
    ...(o.netns !== undefined ? { netns: o.netns } : {}),
  };
}
