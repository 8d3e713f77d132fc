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
import type { Template } from '../store/repositories/templates-repository.js';
import type { WaitOptions } from '../util/deadline.js';
import type { StoredTemplate } from './catalog.js';
import type { ImageStore } from './image-store.js';

export interface OvaExport {
  /** `<template>.ova`. */
  readonly fileName: string;
  /** The OVA; its temporary files go when it closes (read to the end, failed or destroyed). */
  readonly stream: Readable;
}

/**
 * A template as an OVA: its disk converted to a streamOptimized vmdk, its
 * kernel and initrd as they are, an OVF 1.x descriptor with the vCPUs,
 * memory, disk and NICs (and nubo's own section for what OVF has no place
 * for), and a SHA256 manifest — the descriptor first in the tar. Everything
 * is prepared in a temporary directory inside the image store before the
 * first byte is sent, so a failure is an error answer, not a cut-off file.
 */
export async function exportTemplateOva(deps: { store: Store; images: ImageStore }, t: Template, opts: WaitOptions = {}): Promise<OvaExport> {
  const s = t as unknown as StoredTemplate & Template;
  const tmp = await deps.images.tempDir();
  try {
    const base = t.name;
    const diskRef = s.disks[0];
    if (!diskRef) throw new Error(`template ${t.name} has no disk`);
    const disk = await deps.store.images.get(diskRef.image);
    const diskFile = `${base}-disk1.vmdk`;
    await convertDiskImage(disk.path, disk.format === 'raw' ? 'raw' : 'qcow2', join(tmp.path, diskFile), { format: 'vmdk', subformat: 'streamOptimized' }, opts);
    const files: OvfFile[] = [{ id: 'file1', href: diskFile, size: (await stat(join(tmp.path, diskFile))).size }];
    const nubo: { -readonly [K in keyof OvfNuboSettings]: OvfNuboSettings[K] } = {
      cpuModel: s.context.cpuModel,
      diskMode: diskRef.mode,
      ...(diskRef.datastore !== undefined ? { datastore: diskRef.datastore } : {}),
    };
    for (const kind of ['kernel', 'initrd'] as const) {
      const id = s.context[kind];
      if (id === undefined) continue;
      const img = await deps.store.images.get(id);
      const href = `${base}-${kind}`;
      // A hard link costs nothing (the temporary directory is on the store's file system); copy where links are refused.
      await link(img.path, join(tmp.path, href)).catch(() => copyFile(img.path, join(tmp.path, href)));
      files.push({ id: kind, href, size: img.sizeBytes });
      nubo[kind === 'kernel' ? 'kernelFileRef' : 'initrdFileRef'] = kind;
    }
    if (s.context.cmdline !== undefined) nubo.cmdline = s.context.cmdline;
    if (s.context.userData !== undefined) nubo.userData = s.context.userData;
    if (t.requirements !== null) nubo.requirements = t.requirements;
    // NICs connect to networks by name: an importer maps them to its own networks of that name.
    const nics: OvfNic[] = await Promise.all(
      s.nics.map(async (n) => {
        if (n.network === undefined) return {};
        const net = await deps.store.networks.get(n.network).catch(() => undefined);
        return net ? { network: net.name } : {};
      }),
    );
    const networks = [...new Set(nics.flatMap((n) => (n.network === undefined ? [] : [n.network])))];
    const descriptor = `${base}.ovf`;
    const xml = buildOvfEnvelope({
      files,
      disks: [{ id: 'vmdisk1', capacityBytes: disk.virtualSizeBytes, fileRef: 'file1', format: VMDK_STREAM_OPTIMIZED }],
      networks,
      system: { id: base, name: t.name, vcpus: t.vcpus, memoryMiB: t.memoryMib, diskIds: ['vmdisk1'], nics, nubo },
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
