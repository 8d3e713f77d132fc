import type { Store } from '../store/open-store.js';
import type { Template } from '../store/repositories/templates-repository.js';
import type { WaitOptions } from '../util/deadline.js';
import { buildOva, type OvaExport } from './build-ova.js';
import type { StoredTemplate } from './catalog.js';
import type { ImageStore } from './image-store.js';
import { TemplateHasNoDiskError } from './template-has-no-disk-error.js';

/** A template as an OVA (see buildOva): its disk image from the store, its kernel and initrd, its settings. */
export async function exportTemplateOva(deps: { store: Store; images: ImageStore }, t: Template, opts: WaitOptions = {}): Promise<OvaExport> {
  const s = t as unknown as StoredTemplate & Template;
  const diskRef = s.disks[0];
  if (!diskRef) throw new TemplateHasNoDiskError(t.name);
  const disk = await deps.store.images.get(diskRef.image);
  const sys = { name: t.name, vcpus: t.vcpus, memoryMib: t.memoryMib, requirements: t.requirements, disks: s.disks, nics: s.nics, context: s.context };
  return buildOva(deps, sys, { path: disk.path, format: disk.format === 'raw' ? 'raw' : 'qcow2', virtualSizeBytes: disk.virtualSizeBytes }, await deps.images.tempDir(), opts);
}
