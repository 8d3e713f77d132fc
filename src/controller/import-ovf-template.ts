import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ValidationError } from '../errors/validation-error.js';
import { DiskImageError } from '../storage/disk-image-error.js';
import { formatOfFileName } from '../storage/format-of-file-name.js';
import type { DiskImageFormat } from '../storage/inspect-disk-image.js';
import { extractOva } from '../storage/ovf/extract-ova.js';
import type { OvfEnvelope, OvfFile } from '../storage/ovf/ovf-envelope.js';
import { OvfError } from '../storage/ovf/ovf-error.js';
import { parseOvfManifest, verifyOvfManifest } from '../storage/ovf/ovf-manifest.js';
import { isPackageMemberName } from '../storage/ovf/package-member-name.js';
import { parseOvfEnvelope } from '../storage/ovf/parse-ovf-envelope.js';
import { createImage } from '../storage/qemu-img.js';
import type { Store } from '../store/open-store.js';
import type { Image } from '../store/repositories/images-repository.js';
import type { Template } from '../store/repositories/templates-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import { ConflictError } from '../store/store-errors.js';
import type { WaitOptions } from '../util/deadline.js';
import { copyFileAbortable } from '../util/copy-file-abortable.js';
import { compileRequirements } from '../core/placement/requirements-expression.js';
import { templateBody, type TemplateBody } from '../contract/template-schemas.js';
import type { Catalog } from './catalog.js';
import type { ImageStore } from './image-store.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { isWithin, resolveImportPath } from './resolve-import-path.js';
import { receiveUpload } from './receive-upload.js';

export interface OvfImportDeps {
  readonly store: Store;
  readonly images: ImageStore;
  readonly catalog: Catalog;
}

export interface OvfImportInput {
  /** An .ova, or an .ovf with its files beside it, on the controller's machine. */
  readonly path: string;
  /**
   * `import-dir`: a path an admin named, taken only inside the controller's
   * import directory, and an .ovf's files too; `upload`: an .ova the
   * controller itself staged from a request body.
   */
  readonly from: 'import-dir' | 'upload';
  /** Default: the virtual system's name, made fit for a template name. */
  readonly name?: string | undefined;
  readonly owner: User;
}

/** A descriptor larger than this is not an OVF anyone wrote by hand or tool. */
const MAX_DESCRIPTOR_BYTES = 16 << 20;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Imports an OVF 1.x package as a template: unpacks it (an .ova) or copies
 * its files (an .ovf) into a temporary directory inside the image store,
 * checks the manifest's digests, reads the descriptor, inspects the disk and
 * converts it to qcow2, registers the images (disk; kernel and initrd from
 * nubo's own section) and creates the template with the hardware section's
 * vCPUs, memory and NICs. Either all of it is recorded or, on any failure or
 * abort, nothing: images made so far are deleted and the temporary directory
 * goes. Errors name the request field (`path`, or `name` for a taken name)
 * and, for a bad package, the member or element at fault.
 */
export async function importOvfTemplate(deps: OvfImportDeps, input: OvfImportInput, opts: WaitOptions = {}): Promise<Template> {
  const pkg = basename(input.path);
  const source = input.from === 'upload' ? { path: input.path, dir: undefined } : await resolveImportPath(deps.images.importDir, input.path, 'template import');
  const st = await stat(source.path).catch(() => undefined);
  if (!st?.isFile()) throw new ValidationError('template import', [{ field: 'path', message: `${input.path} is not a readable file on the controller` }]);
  if (input.name !== undefined) await ensureTemplateNameFree(deps.store, input.owner.id, input.name);
  const created: Image[] = [];
  const tmp = await deps.images.tempDir();
  try {
    const { envelope, dir } = await unpack(source.path, source.dir, tmp.path, opts).catch((err: unknown) => {
      throw asPathError(pkg, err);
    });
    const s = envelope.system;
    const name = input.name ?? templateNameFrom(s.name);
    if (input.name === undefined) await ensureTemplateNameFree(deps.store, input.owner.id, name);
    const base = name.slice(0, 63 - '-kernel'.length);
    const imageNames = { disk: `${base}-disk`, kernel: `${base}-kernel`, initrd: `${base}-initrd` };
    if (s.diskIds.length === 0) throw pathError(pkg, `VirtualSystem ${s.id} has no disk Item; a template needs a root disk`);
    if (s.diskIds.length > 1) throw pathError(pkg, `VirtualSystem ${s.id} has ${s.diskIds.length} disks; a nubo template has one`);
    const nubo = s.nubo ?? {};
    // Every other rule a template has, checked before the long part (conversion) starts.
    const body = {
      name,
      vcpus: s.vcpus,
      memoryMiB: s.memoryMiB,
      image: imageNames.disk,
      ...(nubo.diskMode !== undefined ? { diskMode: nubo.diskMode } : {}),
      ...(nubo.datastore !== undefined ? { datastore: nubo.datastore } : {}),
      ...(nubo.cpuModel !== undefined ? { cpuModel: nubo.cpuModel } : {}),
      ...(nubo.kernelFileRef !== undefined ? { kernel: imageNames.kernel } : {}),
      ...(nubo.initrdFileRef !== undefined ? { initrd: imageNames.initrd } : {}),
      ...(nubo.cmdline !== undefined ? { cmdline: nubo.cmdline } : {}),
      ...(nubo.userData !== undefined ? { userData: nubo.userData } : {}),
      ...(nubo.requirements !== undefined ? { requirements: nubo.requirements } : {}),
      nics: await Promise.all(s.nics.map(async (n) => (n.network !== undefined && (await findOrUndefined(deps.catalog.findNetwork(n.network))) ? { network: n.network } : {}))),
    } satisfies TemplateBody;
    const checked = templateBody.safeParse(body);
    if (!checked.success) {
      const issues = checked.error.issues.map((i) => `${OVF_SOURCE[String(i.path[0])] ?? String(i.path.join('.'))}: ${i.message}`);
      throw pathError(pkg, `VirtualSystem ${s.id} does not fit a nubo template: ${issues.join('; ')}`);
    }
    if (body.requirements !== undefined) {
      try {
        compileRequirements(body.requirements);
      } catch (err) {
        if (err instanceof ValidationError) throw pathError(pkg, `VirtualSystem ${s.id}: nubo:Requirements: ${err.issues.map((i) => i.message).join('; ')}`);
        throw err;
      }
    }
    const refs = [envelope.disks.find((d) => d.id === s.diskIds[0])?.fileRef, nubo.kernelFileRef, nubo.initrdFileRef].filter((r) => r !== undefined);
    if (new Set(refs).size < refs.length) throw pathError(pkg, `VirtualSystem ${s.id}: the disk, kernel and initrd must be different Files`);
    for (const [what, n] of Object.entries(imageNames)) {
      if (what === 'disk' || (what === 'kernel' && body.kernel !== undefined) || (what === 'initrd' && body.initrd !== undefined)) await deps.images.ensureNameFree(input.owner.id, n, 'name');
    }

    const diskId = s.diskIds[0]!;
    const disk = envelope.disks.find((d) => d.id === diskId)!;
    const file = disk.fileRef === undefined ? undefined : fileById(envelope, disk.fileRef);
    let diskPath: string;
    let declared: DiskImageFormat | undefined;
    if (file) {
      diskPath = join(dir, file.href);
      declared = formatOfUri(disk.format) ?? formatOfFileName(file.href);
    } else {
      // A disk without a file is a blank one of its capacity.
      diskPath = join(tmp.path, `${diskId}.blank.qcow2`);
      await createImage(diskPath, 'qcow2', disk.capacityBytes, opts);
      declared = 'qcow2';
    }
    const what = file ? `${file.href} (Disk ${disk.id})` : `Disk ${disk.id}`;
    const diskImage = await deps.images
      .add({ name: imageNames.disk, ownerId: input.owner.id, file: diskPath, format: declared, displayName: what, minVirtualSize: disk.capacityBytes }, opts)
      .catch((err: unknown) => {
        throw asPathError(pkg, err);
      });
    created.push(diskImage);
    const ids: { kernel?: string; initrd?: string } = {};
    for (const kind of ['kernel', 'initrd'] as const) {
      const ref = kind === 'kernel' ? nubo.kernelFileRef : nubo.initrdFileRef;
      if (ref === undefined) continue;
      const f = fileById(envelope, ref);
      const img = await deps.images.add({ name: imageNames[kind], ownerId: input.owner.id, file: join(dir, f.href), format: kind, displayName: f.href }, opts);
      created.push(img);
      ids[kind] = img.id;
    }
    opts.signal?.throwIfAborted();
    return await deps.catalog.createTemplate({ ...body, image: diskImage.id, ...ids }, input.owner);
  } catch (err) {
    for (const img of created.reverse()) await deps.images.delete(img.id).catch(() => {});
    throw err;
  } finally {
    await tmp.remove();
  }
}

/**
 * Imports an .ova that is the body of a request (exactly `sizeBytes` bytes,
 * of SHA-256 `sha256` if given): staged in a temporary directory of the image
 * store, imported as importOvfTemplate does, and removed afterwards whatever
 * happened. A bad package is the `body` field's fault here.
 */
export async function importUploadedOva(deps: OvfImportDeps, input: { name?: string | undefined; owner: User; sizeBytes: number; sha256?: string | undefined }, body: Readable, opts: WaitOptions = {}): Promise<Template> {
  // A taken name fails before the upload is read, not after.
  if (input.name !== undefined) await ensureTemplateNameFree(deps.store, input.owner.id, input.name);
  return deps.images.withTempDir(async (tmp) => {
    // Messages name the package by this file name: the client's own is not sent.
    const staged = join(tmp, 'upload.ova');
    await receiveUpload(body, staged, input, 'template upload', opts);
    return importOvfTemplate(deps, { path: staged, from: 'upload', name: input.name, owner: input.owner }, opts).catch((err: unknown) => {
      if (err instanceof ValidationError && err.issues.some((i) => i.field === 'path')) {
        throw new ValidationError('template upload', err.issues.map((i) => (i.field === 'path' ? { ...i, field: 'body' } : i)));
      }
      throw err;
    });
  });
}

/** Where each template field comes from in the OVF, for messages. */
const OVF_SOURCE: Readonly<Record<string, string>> = {
  vcpus: 'the CPU Item\'s rasd:VirtualQuantity (vCPUs)',
  memoryMiB: 'the memory Item (MiB)',
  nics: 'the NIC Items',
  cpuModel: 'nubo:CpuModel',
  cmdline: 'nubo:Cmdline',
  userData: 'nubo:UserData',
  requirements: 'nubo:Requirements',
  diskMode: 'nubo:DiskMode',
  datastore: 'nubo:Datastore',
};

/**
 * The package's files in `tmp` (unpacked, or copied beside the descriptor),
 * checked: the manifest's digests, every File of References present, plain
 * and of its declared size. An .ovf's files must resolve (realpath) inside
 * `within`, the import directory, when given: a file beside the descriptor
 * may be a symlink to anything on the controller's machine.
 */
async function unpack(path: string, within: string | undefined, tmp: string, opts: WaitOptions): Promise<{ envelope: OvfEnvelope; dir: string }> {
  let descriptor: string;
  let manifest: string | undefined;
  let members: readonly string[];
  const isOvf = /\.ovf$/i.test(path);
  if (isOvf) {
    // The files beside an .ovf are copied first, so that what is checked is what is imported.
    descriptor = basename(path);
    await copyFileAbortable(path, join(tmp, descriptor), opts.signal);
    const mf = `${descriptor.slice(0, -4)}.mf`;
    const mfReal = await realpath(join(dirname(path), mf)).catch(() => undefined);
    if (mfReal !== undefined && within !== undefined && !isWithin(within, mfReal)) throw new OvfError(mf, 'leads out of the import directory (symlinks and .. are resolved)');
    manifest = mfReal !== undefined && (await copyFileAbortable(mfReal, join(tmp, mf), opts.signal).then(() => true, () => false)) ? mf : undefined;
    members = [descriptor, ...(manifest ? [manifest] : [])];
  } else {
    const contents = await extractOva(path, tmp, opts);
    descriptor = contents.descriptor;
    members = contents.members;
    manifest = contents.manifest;
  }
  const st = await stat(join(tmp, descriptor));
  if (st.size > MAX_DESCRIPTOR_BYTES) throw new OvfError(descriptor, `is ${st.size} bytes; a descriptor is at most ${MAX_DESCRIPTOR_BYTES}`);
  const xml = (await readFile(join(tmp, descriptor), 'utf8')).replace(/^\uFEFF/, '');
  let envelope: OvfEnvelope;
  try {
    envelope = parseOvfEnvelope(xml);
  } catch (err) {
    if (err instanceof OvfError) throw new OvfError(err.where === '' ? descriptor : `${descriptor} ${err.where}`, err.reason, { cause: err });
    throw err;
  }
  for (const f of envelope.files) {
    if (!isPackageMemberName(f.href)) throw new OvfError(`${descriptor} File ${f.id}`, `ovf:href ${JSON.stringify(f.href)} is not a file inside the package (no paths or URLs)`);
    if (isOvf) {
      const notBeside = (err: unknown): never => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OvfError(`${descriptor} File ${f.id}`, `references ${f.href}, which is not beside the descriptor`);
        throw err;
      };
      // The real file is checked and copied, so that a symlink swapped in between cannot lead elsewhere.
      const real = await realpath(join(dirname(path), f.href)).catch(notBeside);
      if (within !== undefined && !isWithin(within, real)) throw new OvfError(`${descriptor} File ${f.id}`, `references ${f.href}, which leads out of the import directory (symlinks and .. are resolved)`);
      await copyFileAbortable(real, join(tmp, f.href), opts.signal).catch(notBeside);
      members = [...members, f.href];
    } else if (!members.includes(f.href)) {
      throw new OvfError(`${descriptor} File ${f.id}`, `references ${f.href}, which is not in the OVA`);
    }
    const size = (await stat(join(tmp, f.href))).size;
    if (f.size !== undefined && f.size !== size) throw new OvfError(`${descriptor} File ${f.id}`, `ovf:size says ${f.size} bytes, but ${f.href} has ${size}`);
  }
  if (manifest !== undefined) {
    const entries = parseOvfManifest(await readFile(join(tmp, manifest), 'utf8'), manifest);
    await verifyOvfManifest(tmp, entries, [descriptor, ...envelope.files.map((f) => f.href)], manifest, opts.signal);
  }
  return { envelope, dir: tmp };
}

function fileById(env: OvfEnvelope, id: string): OvfFile {
  const f = env.files.find((x) => x.id === id);
  if (!f) throw new OvfError(`File ${id}`, 'is not in References');
  return f;
}

/** The disk format an ovf:format URI names: VMware's vmdk page, oVirt's qcow2 and raw ("Byte") pages. */
function formatOfUri(uri: string | undefined): DiskImageFormat | undefined {
  if (uri === undefined) return undefined;
  if (/vmdk\.html/i.test(uri)) return 'vmdk';
  if (/qcow/i.test(uri)) return 'qcow2';
  if (/\bvdi\b/i.test(uri)) return 'vdi';
  if (/wiki\/Byte$/i.test(uri)) return 'raw';
  return undefined;
}

/** A virtual system's name as a template name: characters a name may not hold become dashes. */
function templateNameFrom(name: string): string {
  const n = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  if (!NAME.test(n)) throw new ValidationError('template import', [{ field: 'name', message: `the OVF's name ${JSON.stringify(name)} does not make a template name; give one` }]);
  return n;
}

async function ensureTemplateNameFree(store: Store, ownerId: string, name: string): Promise<void> {
  if ((await store.templates.list({ ownerId })).some((t) => t.name === name)) throw new ConflictError('template', 'name', name, 'already exists for this owner');
}

function pathError(pkg: string, message: string): ValidationError {
  return new ValidationError('template import', [{ field: 'path', message: `${pkg}: ${message}` }]);
}

/** A bad package or disk is the `path` field's fault; anything else passes through. */
function asPathError(pkg: string, err: unknown): unknown {
  // An .ovf's own errors already start with its name.
  if (err instanceof OvfError && err.where.startsWith(pkg)) return new ValidationError('template import', [{ field: 'path', message: err.message }]);
  if (err instanceof OvfError || err instanceof DiskImageError) return pathError(pkg, err.message);
  return err;
}
