import { randomBytes } from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';
import { compileRequirements } from '../core/placement/requirements-expression.js';
import { ANY_CLOUD } from '../core/placement/choose-cloud.js';
import type { VmDemand } from '../core/placement/vm-demand.js';
import type { ClusterBinding } from '../core/placement/cluster-fit.js';
import type { AgentVmSpecInput, ImageRef } from '../contract/agent-api.js';
import type { TemplateBody, TemplateView } from '../contract/template-schemas.js';
import type { CreateVmBody } from '../contract/vm-schemas.js';
import type { Store } from '../store/open-store.js';
import type { Image } from '../store/repositories/images-repository.js';
import type { Template } from '../store/repositories/templates-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import type { Network } from '../store/repositories/networks-repository.js';
import type { Lease } from '../store/repositories/leases-repository.js';
import { NotFoundError } from '../store/store-errors.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { AmbiguousIdError, byIdPrefix } from './api/match-reference.js';
import { InvariantError } from '../errors/invariant-error.js';
import { AccessControl } from './api/access-control.js';
import { checkMemoryMinimum } from './check-memory-minimum.js';

/** How a template's boot and disk settings sit in the store's JSON columns. */
export interface StoredTemplate {
  disks: [{ image: string; mode: 'overlay' | 'copy'; datastore?: 'local' | 'shared' }];
  nics: { network?: string }[];
  /**
   * `burst`: the template's burst flag — a cloud's name or `any` (core/placement/choose-cloud.ts). Kept in the
   * context document with the other settings its VMs copy at admission (into `spec.demand.burst`).
   */
  context: { userData?: string; kernel?: string; initrd?: string; cmdline?: string; cpuModel: string; burst?: string };
}

/**
 * Templates and VM admission: names resolved to records, images checked for
 * the role they play, requirements compiled once — so a bad request fails
 * here with the field named, before anything is written.
 */
export class Catalog {
  /** Who may do what (core/access.ts over the store's facts); the API's one enforcement point. */
  readonly access: AccessControl;

  constructor(private readonly store: Store, private readonly imageUrl: (image: Image) => string) {
    this.access = new AccessControl(store);
  }

  /** How an agent fetches the image (a VM's disk set to another image: a VM back from a remote cloud). */
  async imageRefOf(id: string): Promise<ImageRef> {
    const img = await this.store.images.get(id);
    return { id: img.id, url: this.imageUrl(img), sha256: img.sha256, sizeBytes: img.sizeBytes, format: img.format };
  }

  /**
   * Who sees an image or template (core/access.ts): its owner, admins, the
   * groups it is shared with, a group admin of the owner's group, and — for
   * what an admin owns and has not shared with particular groups (the base
   * images and templates of the cloud) — everyone. What a user made (a saved
   * disk, a clone's image) holds their data: it stays theirs until shared.
   */
  async visibleTo<T extends { readonly ownerId: string; readonly id: string }>(user: User, items: readonly T[], kind: 'image' | 'template'): Promise<T[]> {
    return this.access.forUser(user).filter('read', kind, items);
  }

  /** @throws NotFoundError (as if it did not exist) when the user may not see it. */
  async ensureVisible<T extends { readonly ownerId: string; readonly id: string }>(user: User, resource: 'image' | 'template', item: T): Promise<T> {
    if ((await this.visibleTo(user, [item], resource)).length === 0) throw new NotFoundError(resource, item.id);
    return item;
  }

  /** An image by id, or by name among the user's and then everyone's (those the user may see). */
  async findImage(ref: string, user: User, field: string): Promise<Image> {
    const byId = await findOrUndefined(this.store.images.get(ref));
    if (byId && (await this.visibleTo(user, [byId], 'image')).length > 0) return byId;
    const all = await this.visibleTo(user, await this.store.images.list(), 'image');
    const mine = all.find((i) => i.name === ref && i.ownerId === user.id);
    const any = all.filter((i) => i.name === ref);
    const found = mine ?? (any.length === 1 ? any[0] : undefined) ?? (any.length === 0 ? byIdPrefix('image', ref, all) : undefined);
    if (!found) throw new ValidationError('request', [{ field, message: any.length > 1 ? `image name ${ref} is ambiguous; use its id` : `no image ${ref}` }]);
    return found;
  }

  /** An image the user may see by id, name (theirs first) or the start of its id, for the routes that take one in the path. */
  async resolveImage(ref: string, user: User): Promise<Image> {
    const byId = await findOrUndefined(this.store.images.get(ref));
    if (byId && (await this.visibleTo(user, [byId], 'image')).length > 0) return byId;
    const all = await this.visibleTo(user, await this.store.images.list(), 'image');
    const named = all.filter((i) => i.name === ref);
    const mine = named.filter((i) => i.ownerId === user.id);
    if (mine.length === 0 && named.length > 1) throw new AmbiguousIdError('image', ref, named);
    const found = mine[0] ?? named[0] ?? byIdPrefix('image', ref, all);
    if (!found) throw new NotFoundError('image', ref);
    return found;
  }

  async findTemplate(ref: string, user: User): Promise<Template> {
    const byId = await this.store.templates.find(ref);
    if (byId && (await this.visibleTo(user, [byId], 'template')).length > 0) return byId;
    const all = await this.visibleTo(user, await this.store.templates.list(), 'template');
    const found = all.find((t) => t.name === ref && t.ownerId === user.id) ?? (all.filter((t) => t.name === ref).length === 1 ? all.find((t) => t.name === ref) : undefined)
      ?? (all.some((t) => t.name === ref) ? undefined : byIdPrefix('template', ref, all));
    if (!found) throw new NotFoundError('template', ref);
    return found;
  }

  /** A network by id, name (network names are unique) or the start of its id; with `user`, only one they may use (a network shared with groups is theirs alone). */
  async findNetwork(ref: string, user?: User): Promise<Network> {
    const byId = await findOrUndefined(this.store.networks.get(ref));
    const all = byId ? [] : await this.store.networks.list();
    const found = byId ?? all.find((n) => n.name === ref) ?? byIdPrefix('network', ref, all);
    if (!found) throw new NotFoundError('network', ref);
    return user === undefined ? found : this.access.forUser(user).check('use', 'network', found);
  }

  async createTemplate(body: TemplateBody, user: User): Promise<Template> {
    const disk = await this.access.forUser(user).check('use', 'image', await this.findImage(body.image, user, 'image'), `a template on image ${body.image}`);
    if (disk.format !== 'qcow2' && disk.format !== 'raw') throw new ValidationError('template', [{ field: 'image', message: `image ${disk.name} is a ${disk.format} file, not a disk` }]);
    const kernel = body.kernel === undefined ? undefined : await this.findImage(body.kernel, user, 'kernel');
    if (kernel && kernel.format !== 'kernel') throw new ValidationError('template', [{ field: 'kernel', message: `image ${kernel.name} is ${kernel.format}, not a kernel` }]);
    const initrd = body.initrd === undefined ? undefined : await this.findImage(body.initrd, user, 'initrd');
    if (initrd && initrd.format !== 'initrd') throw new ValidationError('template', [{ field: 'initrd', message: `image ${initrd.name} is ${initrd.format}, not an initrd` }]);
    if (initrd && !kernel) throw new ValidationError('template', [{ field: 'initrd', message: 'an initrd needs a kernel' }]);
    await checkMemoryMinimum(this.store, { memoryMiB: body.memoryMiB, imageIds: [disk.id, kernel?.id, initrd?.id], what: 'template' });
    if (body.requirements !== undefined) compileRequirements(body.requirements);
    if (body.burst !== undefined) await this.#checkBurst(body.burst);
    // Networks are kept by id (names may be reused after a delete); JSON has no undefined: absent ones are dropped.
    const nics: StoredTemplate['nics'] = [];
    for (const [i, n] of (body.nics ?? [{}]).entries()) {
      if (n.network === undefined) {
        nics.push({});
        continue;
      }
      const net = await findOrUndefined(this.findNetwork(n.network, user));
      if (!net) throw new ValidationError('template', [{ field: `nics.${i}.network`, message: `no network ${n.network}` }]);
      nics.push({ network: net.id });
    }
    const stored: StoredTemplate = {
      disks: [{ image: disk.id, mode: body.diskMode ?? 'overlay', datastore: body.datastore ?? 'local' }],
      nics,
      context: {
        cpuModel: body.cpuModel ?? 'qemu64',
        ...(kernel ? { kernel: kernel.id } : {}),
        ...(initrd ? { initrd: initrd.id } : {}),
        ...(body.cmdline !== undefined ? { cmdline: body.cmdline } : {}),
        ...(body.userData !== undefined ? { userData: body.userData } : {}),
        ...(body.burst !== undefined ? { burst: body.burst } : {}),
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
      cluster: body.cluster ?? null,
    });
  }

  /** The burst flag names a registered cloud, or `any`; refused naming the field otherwise. */
  async #checkBurst(burst: string): Promise<void> {
    if (burst !== ANY_CLOUD && !(await this.store.clouds.list()).some((c) => c.name === burst)) {
      throw new ValidationError('template', [{ field: 'burst', message: `no cloud ${burst} (a registered cloud's name, or ${ANY_CLOUD} for the cheapest that takes the VM)` }]);
    }
  }

  /** Sets (or with null clears) a template's burst flag, checked as at create; the VMs made from it before keep theirs. */
  async setTemplateBurst(t: Template, burst: string | null): Promise<Template> {
    if (burst !== null) await this.#checkBurst(burst);
    const context: StoredTemplate['context'] = { ...(t.context as StoredTemplate['context']) };
    if (burst === null) delete context.burst;
    else context.burst = burst;
    return this.store.templates.setContext(t.id, context);
  }

  async templateView(t: Template): Promise<TemplateView> {
    const s = t as unknown as StoredTemplate & Template;
    const name = async (id: string | undefined): Promise<string | undefined> => (id === undefined ? undefined : (await findOrUndefined(this.store.images.get(id)))?.name ?? id);
    const kernel = await name(s.context.kernel);
    const initrd = await name(s.context.initrd);
    return {
      id: t.id,
      name: t.name,
      owner: (await findOrUndefined(this.store.users.get(t.ownerId)))?.name ?? t.ownerId,
      createdAt: t.createdAt,
      vcpus: t.vcpus,
      memoryMiB: t.memoryMib,
      image: (await name(s.disks[0]?.image)) ?? '',
      diskMode: s.disks[0]?.mode ?? 'overlay',
      datastore: s.disks[0]?.datastore ?? 'local',
      cpuModel: s.context.cpuModel,
      nics: await Promise.all(s.nics.map(async (n) => (n.network === undefined ? {} : { network: (await findOrUndefined(this.store.networks.get(n.network)))?.name ?? n.network }))),
      ...(kernel !== undefined ? { kernel } : {}),
      ...(initrd !== undefined ? { initrd } : {}),
      ...(s.context.cmdline !== undefined ? { cmdline: s.context.cmdline } : {}),
      ...(s.context.userData !== undefined ? { userData: s.context.userData } : {}),
      ...(t.requirements !== null ? { requirements: t.requirements } : {}),
      ...(t.cluster !== null ? { cluster: t.cluster } : {}),
      ...(s.context.burst !== undefined ? { burst: s.context.burst } : {}),
    };
  }

  /**
   * What ties a VM to a cluster: the one it asks for (it must exist) and its
   * networks and datastore that are bound to one. Refused here, naming the
   * field, when they cannot all hold at once — no host could ever take it.
   */
  async #clusterNeeds(asked: string | undefined, networks: readonly (Network | null)[], datastore: string, field: string): Promise<{ cluster: string | undefined; bindings: ClusterBinding[] }> {
    if (asked !== undefined && !(await this.store.clusters.findByName(asked))) throw new ValidationError('request', [{ field, message: `no cluster ${asked}` }]);
    const bindings: ClusterBinding[] = [];
    for (const n of networks) if (n !== null && n.cluster !== null && !bindings.some((b) => b.kind === 'network' && b.name === n.name)) bindings.push({ kind: 'network', name: n.name, cluster: n.cluster });
    // The VM's datastore is `local` (each host's own) or `shared`: a shared datastore row of that name may be bound to a cluster.
    const ds = datastore === 'local' ? undefined : (await this.store.datastores.list({ kind: 'shared' })).find((d) => d.name === datastore && d.cluster !== null);
    if (ds !== undefined && ds.cluster !== null) bindings.push({ kind: 'datastore', name: ds.name, cluster: ds.cluster });
    const clusters = new Set([...(asked !== undefined ? [asked] : []), ...bindings.map((b) => b.cluster)]);
    if (clusters.size > 1) {
      const why = [...(asked !== undefined ? [`it asks for cluster ${asked}`] : []), ...bindings.map((b) => `${b.kind} ${b.name} is bound to cluster ${b.cluster}`)];
      throw new ValidationError('request', [{ field: asked !== undefined ? field : 'nics', message: `no host can take the VM: ${why.join('; ')}` }]);
    }
    return { cluster: asked, bindings };
  }

  /**
   * Admission: the VM's name, template and fully resolved spec — but for the
   * addresses of NICs on a network: `leaseNetworks` lists those networks, and
   * `spec` completes the spec with the leases taken on them (in that order)
   * when the VM is recorded (store.vms.create, one transaction).
   */
  async admitVm(body: CreateVmBody, user: User): Promise<AdmittedVm> {
    const t = await this.findTemplate(body.template, user).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new ValidationError('request', [{ field: 'template', message: `no template ${body.template}` }]);
      throw err;
    });
    // Seeing is not using: a group admin reads a member's template, but only the owner and those it is shared with build on it.
    await this.access.forUser(user).check('use', 'template', t, `a VM from template ${t.name}`);
    return this.admit({ ...(t as unknown as StoredTemplate), id: t.id, label: `template ${t.name}`, vcpus: t.vcpus, memoryMib: t.memoryMib, requirements: t.requirements, cluster: t.cluster }, body, user);
  }

  /** Admission from a template or a template's equivalent (a clone's source VM with its new disk image): see admitVm. */
  async admit(s: AdmissionSource, body: Omit<CreateVmBody, 'template'>, user: User): Promise<AdmittedVm> {
    const requirements = body.requirements ?? s.requirements ?? undefined;
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
    if (!diskImage) throw new ValidationError('request', [{ field: 'template', message: `${s.label} has no disk` }]);
    const disk = await ref(diskImage.image);
    const datastore = body.datastore ?? diskImage.datastore ?? 'local';
    const name = body.name ?? `vm-${randomBytes(3).toString('hex')}`;
    const vcpus = body.vcpus ?? s.vcpus;
    const memoryMiB = body.memoryMiB ?? s.memoryMib;
    const userData = body.userData ?? s.context.userData;
    // Its own memory or its source's (a template made before the images said their minimum): either is refused below it.
    await checkMemoryMinimum(this.store, { memoryMiB, imageIds: [diskImage.image, s.context.kernel, s.context.initrd], what: 'request' });
    const img = await this.store.images.get(diskImage.image);
    const networks: (Network | null)[] = [];
    if (body.nics !== undefined) {
      // The caller's NICs replace the template's: each network found as the caller may use it (a template's were checked when it was made).
      for (const [i, n] of body.nics.entries()) {
        if (n.network === undefined) {
          networks.push(null);
          continue;
        }
        const net = await this.findNetwork(n.network, user).catch((err: unknown) => {
          if (err instanceof NotFoundError) throw new ValidationError('request', [{ field: `nics.${i}.network`, message: `no network ${n.network}` }]);
          throw err;
        });
        networks.push(net);
      }
    } else for (const n of s.nics) {
      if (n.network === undefined) {
        networks.push(null);
        continue;
      }
      const net = await findOrUndefined(this.store.networks.get(n.network));
      if (!net) throw new ValidationError('request', [{ field: 'template', message: `${s.label} puts a NIC on network ${n.network}, which no longer exists` }]);
      networks.push(net);
    }
    const leaseNetworks = networks.flatMap((n) => (n === null ? [] : [n.id]));
    const { cluster, bindings } = await this.#clusterNeeds(body.cluster ?? s.cluster ?? undefined, networks, datastore, body.cluster !== undefined ? 'cluster' : 'template');
    const nicsWith = (leases: readonly Lease[]): AgentVmSpecInput['nics'] => {
      let next = 0;
      return networks.map((net) => {
        // A NIC without a network: a locally administered MAC, no address, user-mode networking on the host.
        if (net === null) return { mac: `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}` };
        const lease = leases[next++];
        if (!lease) throw new InvariantError(`no lease for the NIC on network ${net.name}`);
        const prefix = net.cidr.split('/')[1] ?? '32';
        return {
          mac: lease.mac,
          address: `${lease.address}/${prefix}`,
          ...(net.gateway !== null ? { gateway: net.gateway } : {}),
          ...(net.dns.length > 0 ? { dns: [...net.dns] } : {}),
          bridge: net.bridge,
          ...(net.vlan !== null ? { vlan: net.vlan } : {}),
        };
      });
    };
    const kernel = s.context.kernel === undefined ? undefined : await ref(s.context.kernel);
    const initrd = s.context.initrd === undefined ? undefined : await ref(s.context.initrd);
    const spec = (leases: readonly Lease[]): ControllerVmSpec => ({
        nicNetworks: networks.map((n) => n?.id ?? null),
        ...(s.cloneOf !== undefined ? { cloneOf: { ...s.cloneOf } } : {}),
        agent: {
          vcpus,
          memoryMiB,
          cpuModel: s.context.cpuModel,
          disk: { image: disk, mode: diskImage.mode, datastore },
          ...(kernel !== undefined ? { kernel } : {}),
          ...(initrd !== undefined ? { initrd } : {}),
          ...(s.context.cmdline !== undefined ? { cmdline: s.context.cmdline } : {}),
          nics: nicsWith(leases),
          // The first firewall is revision 1 of the spec itself: the agent applies it before QEMU starts (vm-firewalls.ts).
          ...(body.firewall !== undefined ? { firewall: { revision: 1, rules: body.firewall.map((r) => ({ ...r })) } } : {}),
          context: {
            hostname: name.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63),
            ...(userData !== undefined ? { userData } : {}),
            // The owner's public keys go into the config drive (authorized_keys of the guest).
            ...(user.sshKeys.length > 0 ? { sshAuthorizedKeys: [...user.sshKeys] } : {}),
          },
        },
        demand: {
          vcpus,
          memoryMiB,
          // An overlay can grow to the image's virtual size: that much is reserved on the host (none on the shared datastore).
          diskMiB: datastore === 'shared' ? 0 : Math.ceil(img.virtualSizeBytes / 2 ** 20),
          ...(datastore === 'shared' ? { datastore: 'shared' } : {}),
          cpuModel: s.context.cpuModel,
          ...(requirements !== undefined ? { requirements } : {}),
          ...(cluster !== undefined ? { cluster } : {}),
          ...(bindings.length > 0 ? { bindings } : {}),
          ...(s.context.burst !== undefined ? { burst: s.context.burst } : {}),
        },
    });
    // What placement will ask of a host (as the scheduler builds it from the spec): for checking a chosen host before anything is written.
    const bridges = [...new Set(networks.flatMap((n) => (n === null ? [] : [n.bridge])))];
    const placementDemand: VmDemand = {
      vcpus, memoryMiB, diskMiB: datastore === 'shared' ? 0 : Math.ceil(img.virtualSizeBytes / 2 ** 20), cpuModel: s.context.cpuModel, networks: bridges,
      ...(datastore === 'shared' ? { datastore: 'shared' } : {}),
      ...(requirements !== undefined ? { requirements } : {}),
      ...(cluster !== undefined ? { cluster } : {}),
      ...(bindings.length > 0 ? { bindings } : {}),
    };
    // Quotas count the disk at its image's virtual size on any datastore: the shared one holds it too.
    return { name, templateId: s.id, leaseNetworks, spec, demand: placementDemand, charge: { vcpus, memoryMib: memoryMiB, diskMib: Math.ceil(img.virtualSizeBytes / 2 ** 20) } };
  }
}

/**
 * What a VM is admitted from: a template, or a template's equivalent that was
 * never stored (a clone: the source VM's settings with a disk image of its own).
 */
export type AdmissionSource = StoredTemplate & {
  /** The template the VM is recorded as made from, if any. */
  readonly id: string | null;
  /** How messages name the source: `template tiny`, `VM web-1`. */
  readonly label: string;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly requirements: string | null;
  /** The cluster its VMs are placed in; null (or absent, a clone's source): any. */
  readonly cluster?: string | null;
  /** A clone's source VM, kept in the clone's spec. */
  readonly cloneOf?: ControllerVmSpec['cloneOf'];
};

export interface AdmittedVm {
  readonly name: string;
  readonly templateId: string | null;
  /** The network of each NIC that gets an address, in NIC order. */
  readonly leaseNetworks: readonly string[];
  /** The VM's spec given one lease per entry of `leaseNetworks`. */
  readonly spec: (leases: readonly Lease[]) => ControllerVmSpec;
  /** What placement asks of a host for it (the scheduler's demand, networks as bridges). */
  readonly demand: VmDemand;
  /** What the VM counts against its owner's quotas (store.vms.create checks it). */
  readonly charge: { readonly vcpus: number; readonly memoryMib: number; readonly diskMib: number };
}
