import type { TemplateBody } from '../contract/template-schemas.js';
import type { AdmissionSource, StoredTemplate } from './catalog.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';

/**
 * A VM's settings as a template whose root disk is `diskImageId` (the VM's
 * captured disk): what it was admitted with, overrides included — vCPUs,
 * memory, CPU model, kernel, initrd and cmdline, disk mode and datastore, user
 * data, requirements, the burst flag, and a NIC on each network its NICs are on. Not what is
 * the VM's own: its addresses and MACs (a new VM takes fresh leases), its
 * hostname, its volumes.
 */
export function vmAsTemplate(vm: { readonly name: string; readonly templateId: string | null; readonly spec: unknown }, diskImageId: string): AdmissionSource {
  const spec = vm.spec as ControllerVmSpec;
  const a = spec.agent;
  const nics: StoredTemplate['nics'] = (a.nics ?? []).map((_, i) => {
    const network = spec.nicNetworks?.[i];
    return network === undefined || network === null ? {} : { network };
  });
  return {
    id: vm.templateId,
    label: `VM ${vm.name}`,
    vcpus: a.vcpus,
    memoryMib: a.memoryMiB,
    requirements: spec.demand.requirements ?? null,
    disks: [{ image: diskImageId, mode: a.disk.mode ?? 'overlay', datastore: a.disk.datastore ?? 'local' }],
    nics,
    context: {
      cpuModel: a.cpuModel ?? 'qemu64',
      ...(a.kernel !== undefined ? { kernel: a.kernel.id } : {}),
      ...(a.initrd !== undefined ? { initrd: a.initrd.id } : {}),
      ...(a.cmdline !== undefined ? { cmdline: a.cmdline } : {}),
      ...(a.context.userData !== undefined ? { userData: a.context.userData } : {}),
      ...(spec.demand.burst !== undefined ? { burst: spec.demand.burst } : {}),
    },
  };
}

/** The request that stores `source` as the template `name` (images and networks by id, which the catalog resolves and checks again). */
export function templateBodyOf(source: AdmissionSource, name: string): TemplateBody {
  const disk = source.disks[0];
  const c = source.context;
  return {
    name,
    vcpus: source.vcpus,
    memoryMiB: source.memoryMib,
    image: disk.image,
    diskMode: disk.mode,
    datastore: disk.datastore ?? 'local',
    cpuModel: c.cpuModel,
    nics: source.nics.map((n) => (n.network === undefined ? {} : { network: n.network })),
    ...(c.kernel !== undefined ? { kernel: c.kernel } : {}),
    ...(c.initrd !== undefined ? { initrd: c.initrd } : {}),
    ...(c.cmdline !== undefined ? { cmdline: c.cmdline } : {}),
    ...(c.userData !== undefined ? { userData: c.userData } : {}),
    ...(c.burst !== undefined ? { burst: c.burst } : {}),
    ...(source.requirements !== null ? { requirements: source.requirements } : {}),
  };
}
