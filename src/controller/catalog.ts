import { randomBytes } from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';
import { compileRequirements } from '../core/placement/requirements-expression.js';
import type { ImageRef } from '../agent/agent-api.js';
import type { CreateVmBody, TemplateBody, TemplateView } from './api/api-schemas.js';
import type { Store } from '../store/open-store.js';
import type { Image } from '../store/repositories/images-repository.js';
import type { Template } from '../store/repositories/templates-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import { NotFoundError } from '../store/store-errors.js';
import type { ControllerVmSpec } from './vm-orchestrator.js';

/** How a template's boot and disk settings sit in the store's JSON columns. */
interface StoredTemplate {
  disks: [{ image: string; mode: 'overlay' | 'copy' }];
  nics: { network?: string }[];
  context: { userData?: string; kernel?: string; initrd?: string; cmdline?: string; cpuModel: string };
}

/**
 * Templates and VM admission: names resolved to records, images checked for
 * the role they play, requirements compiled once — so a bad request fails
 * here with the field named, before anything is written.
 */
export class Catalog {
  constructor(private readonly store: Store, private readonly imageUrl: (image: Image) => string) {}

  /** An image by id, or by name among the user's and then everyone's. */
  async findImage(ref: string, user: User, field: string): Promise<Image> {
    const byId = await this.store.images.get(ref).catch(() => undefined);
    if (byId) return byId;
    const all = await this.store.images.list();
    const mine = all.find((i) => i.name === ref && i.ownerId === user.id);
    const any = all.filter((i) => i.name === ref);
    const found = mine ?? (any.length === 1 ? any[0] : undefined);
    if (!found) throw new ValidationError('request', [{ field, message: any.length > 1 ? `image name ${ref} is ambiguous; use its id` : `no image ${ref}` }]);
    return found;
  }

  async findTemplate(ref: string, user: User): Promise<Template> {
    const byId = await this.store.templates.get(ref).catch(() => undefined);
    if (byId) return byId;
    const all = await this.store.templates.list();
    const found = all.find((t) => t.name === ref && t.ownerId === user.id) ?? (all.filter((t) => t.name === ref).length === 1 ? all.find((t) => t.name === ref) : undefined);
    if (!found) throw new NotFoundError('template', ref);
    return found;
  }

  async createTemplate(body: TemplateBody, user: User): Promise<Template> {
    const disk = await this.findImage(body.image, user, 'image');
    if (disk.format !== 'qcow2' && disk.format !== 'raw') throw new ValidationError('template', [{ field: 'image', message: `image ${disk.name} is a ${disk.format} file, not a disk` }]);
    const kernel = body.kernel === undefined ? undefined : await this.findImage(body.kernel, user, 'kernel');
    if (kernel && kernel.format !== 'kernel') throw new ValidationError('template', [{ field: 'kernel', message: `image ${kernel.name} is ${kernel.format}, not a kernel` }]);
    const initrd = body.initrd === undefined ? undefined : await this.findImage(body.initrd, user, 'initrd');
    if (initrd && initrd.format !== 'initrd') throw new ValidationError('template', [{ field: 'initrd', message: `image ${initrd.name} is ${initrd.format}, not an initrd` }]);
    if (initrd && !kernel) throw new ValidationError('template', [{ field: 'initrd', message: 'an initrd needs a kernel' }]);
    if (body.requirements !== undefined) compileRequirements(body.requirements);
    const stored: StoredTemplate = {
      disks: [{ image: disk.id, mode: body.diskMode ?? 'overlay' }],
      // JSON has no undefined: drop absent network names.
      nics: (body.nics ?? [{}]).map((n) => (n.network === undefined ? {} : { network: n.network })),
      context: {
        cpuModel: body.cpuModel ?? 'qemu64',
        ...(kernel ? { kernel: kernel.id } : {}),
        ...(initrd ? { initrd: initrd.id } : {}),
        ...(body.cmdline !== undefined ? { cmdline: body.cmdline } : {}),
        ...(body.userData !== undefined ? { userData: body.userData } : {}),
      },
    };
    return this.store.templates.create({
      name: body.name,
      ownerId: user.id,
      vcpus: body.vcpus,
      memoryMib: body.memoryMiB,
      disks: stored.disks,
      nics: stored.nics,
      context: stored.context,
      requirements: body.requirements ?? null,
    });
  }

  async templateView(t: Template): Promise<TemplateView> {
    const s = t as unknown as StoredTemplate & Template;
    const name = async (id: string | undefined): Promise<string | undefined> => (id === undefined ? undefined : (await this.store.images.get(id).catch(() => undefined))?.name ?? id);
    const kernel = await name(s.context.kernel);
    const initrd = await name(s.context.initrd);
    return {
      id: t.id,
      name: t.name,
      owner: (await this.store.users.get(t.ownerId).catch(() => undefined))?.name ?? t.ownerId,
      createdAt: t.createdAt,
      vcpus: t.vcpus,
      memoryMiB: t.memoryMib,
      image: (await name(s.disks[0]?.image)) ?? '',
      diskMode: s.disks[0]?.mode ?? 'overlay',
      cpuModel: s.context.cpuModel,
      nics: s.nics,
      ...(kernel !== undefined ? { kernel } : {}),
      ...(initrd !== undefined ? { initrd } : {}),
      ...(s.context.cmdline !== undefined ? { cmdline: s.context.cmdline } : {}),
      ...(s.context.userData !== undefined ? { userData: s.context.userData } : {}),
      ...(t.requirements !== null ? { requirements: t.requirements } : {}),
    };
  }

  /** Admission: the VM's name, template and fully resolved spec. */
  async admitVm(body: CreateVmBody, user: User): Promise<{ name: string; templateId: string; spec: ControllerVmSpec }> {
    const t = await this.findTemplate(body.template, user).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new ValidationError('request', [{ field: 'template', message: `no template ${body.template}` }]);
      throw err;
    });
    const s = t as unknown as StoredTemplate & Template;
    const requirements = body.requirements ?? t.requirements ?? undefined;
    if (requirements !== undefined) {
      try {
        compileRequirements(requirements);
      } catch (err) {
        if (err instanceof ValidationError) throw new ValidationError('request', err.issues.map((i) => ({ ...i, field: 'requirements' })));
        throw err;
      }
    }
    const ref = async (id: string): Promise<ImageRef> => {
      const img = await this.store.images.get(id);
      return { id: img.id, url: this.imageUrl(img), sha256: img.sha256, sizeBytes: img.sizeBytes, format: img.format };
    };
    const diskImage = s.disks[0];
    if (!diskImage) throw new ValidationError('request', [{ field: 'template', message: `template ${t.name} has no disk` }]);
    const disk = await ref(diskImage.image);
    const name = body.name ?? `vm-${randomBytes(3).toString('hex')}`;
    const vcpus = body.vcpus ?? t.vcpus;
    const memoryMiB = body.memoryMiB ?? t.memoryMib;
    const userData = body.userData ?? s.context.userData;
    const img = await this.store.images.get(diskImage.image);
    return {
      name,
      templateId: t.id,
      spec: {
        agent: {
          vcpus,
          memoryMiB,
          cpuModel: s.context.cpuModel,
          disk: { image: disk, mode: diskImage.mode },
          ...(s.context.kernel !== undefined ? { kernel: await ref(s.context.kernel) } : {}),
          ...(s.context.initrd !== undefined ? { initrd: await ref(s.context.initrd) } : {}),
          ...(s.context.cmdline !== undefined ? { cmdline: s.context.cmdline } : {}),
          // Addresses and bridges come with virtual networks (leases); until then each NIC gets a locally administered MAC.
          nics: s.nics.map(() => ({ mac: `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}` })),
          context: { hostname: name.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63), ...(userData !== undefined ? { userData } : {}) },
        },
        demand: {
          vcpus,
          memoryMiB,
          // An overlay can grow to the image's virtual size: that much is reserved on the host.
          diskMiB: Math.ceil(img.virtualSizeBytes / 2 ** 20),
          cpuModel: s.context.cpuModel,
          ...(requirements !== undefined ? { requirements } : {}),
        },
      },
    };
  }
}
