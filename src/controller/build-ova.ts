import { copyFile, link, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { convertDiskImage } from '../storage/convert-disk-image.js';
import { buildOvfEnvelope } from '../storage/ovf/build-ovf-envelope.js';
import type { OvfFile, OvfNic, OvfNuboSettings } from '../storage/ovf/ovf-envelope.js';
import { VMDK_STREAM_OPTIMIZED } from '../storage/ovf/ovf-namespaces.js';
import { formatOvfManifest } from '../storage/ovf/ovf-manifest.js';
import { packOva } from '../storage/ovf/pack-ova.js';
import type { Store } from '../store/open-store.js';
import type { WaitOptions } from '../util/deadline.js';
import type { AdmissionSource } from './catalog.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

export interface OvaExport {
  /** `<name>.ova`. */
  readonly fileName: string;
  /** The OVA; its temporary files go when it closes (read to the end, failed or destroyed). */
  readonly stream: Readable;
}

/** What goes into the OVA: a template's settings (a stored template's, or a VM's: see vmAsTemplate) under a name. */
export type OvaSystem = Omit<AdmissionSource, 'id' | 'label'> & { readonly name: string };

/** The root disk's file, in the image store or captured into the temporary directory. */
export interface OvaDisk {
  readonly path: string;
  readonly format: 'qcow2' | 'raw';
  readonly virtualSizeBytes: number;
}

/**
 * An OVA of one virtual system: the disk converted to a streamOptimized vmdk,
 * the kernel and initrd as they are, an OVF 1.x descriptor with the vCPUs,
 * memory, disk and NICs (and nubo's own section for what OVF has no place
 * for), and a SHA256 manifest — the descriptor first in the tar. Everything is
 * prepared in `tmp` (a temporary directory inside the image store, which this
 * takes over: removed on failure, or when the stream closes) before the first
 * byte is sent, so a failure is an error answer, not a cut-off file.
 */
export async function buildOva(deps: { store: Store }, sys: OvaSystem, disk: OvaDisk, tmp: { readonly path: string; remove(): Promise<void> }, opts: WaitOptions = {}): Promise<OvaExport> {
  try {
    const base = sys.name;
    const diskRef = sys.disks[0];
    const diskFile = `${base}-disk1.vmdk`;
    await convertDiskImage(disk.path, disk.format, join(tmp.path, diskFile), { format: 'vmdk', subformat: 'streamOptimized' }, opts);
    const files: OvfFile[] = [{ id: 'file1', href: diskFile, size: (await stat(join(tmp.path, diskFile))).size }];
    const nubo: { -readonly [K in keyof OvfNuboSettings]: OvfNuboSettings[K] } = {
      cpuModel: sys.context.cpuModel,
      diskMode: diskRef.mode,
      ...(diskRef.datastore !== undefined ? { datastore: diskRef.datastore } : {}),
    };
    for (const kind of ['kernel', 'initrd'] as const) {
      const id = sys.context[kind];
      if (id === undefined) continue;
      const img = await deps.store.images.get(id);
      const href = `${base}-${kind}`;
      // A hard link costs nothing (the temporary directory is on the store's file system); copy where links are refused.
      await link(img.path, join(tmp.path, href)).catch(() => copyFile(img.path, join(tmp.path, href)));
      files.push({ id: kind, href, size: img.sizeBytes });
      nubo[kind === 'kernel' ? 'kernelFileRef' : 'initrdFileRef'] = kind;
    }
    if (sys.context.cmdline !== undefined) nubo.cmdline = sys.context.cmdline;
    if (sys.context.userData !== undefined) nubo.userData = sys.context.userData;
    if (sys.requirements !== null) nubo.requirements = sys.requirements;
    // NICs connect to networks by name: an importer maps them to its own networks of that name.
    const nics: OvfNic[] = await Promise.all(
      sys.nics.map(async (n) => {
        if (n.network === undefined) return {};
        const net = await findOrUndefined(deps.store.networks.get(n.network));
        return net ? { network: net.name } : {};
      }),
    );
    const networks = [...new Set(nics.flatMap((n) => (n.network === undefined ? [] : [n.network])))];
    const descriptor = `${base}.ovf`;
    const xml = buildOvfEnvelope({
      files,
      disks: [{ id: 'vmdisk1', capacityBytes: disk.virtualSizeBytes, fileRef: 'file1', format: VMDK_STREAM_OPTIMIZED }],
      networks,
      system: { id: base, name: sys.name, vcpus: sys.vcpus, memoryMiB: sys.memoryMib, diskIds: ['vmdisk1'], nics, nubo },
    });
    await writeFile(join(tmp.path, descriptor), xml);
    const manifest = `${base}.mf`;
    const contents = [descriptor, ...files.map((f) => f.href)];
    await writeFile(join(tmp.path, manifest), await formatOvfManifest(tmp.path, contents, opts.signal));
    opts.signal?.throwIfAborted();
    const stream = packOva(tmp.path, [descriptor, manifest, ...files.map((f) => f.href)]);
    stream.once('close', () => {
      tmp.remove().catch(() => {});
    });
    return { fileName: `${base}.ova`, stream };
  } catch (err) {
    await tmp.remove();
    throw err;
  }
}
