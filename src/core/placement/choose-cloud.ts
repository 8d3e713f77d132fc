import { compileRequirements } from './requirements-expression.js';
import type { HostView } from './host-view.js';

/** A nubo size as the clouds' size maps name it: `<vcpus>x<memoryMiB>` (`1x128`). */
export const sizeKey = (vcpus: number, memoryMiB: number): string => `${vcpus}x${memoryMiB}`;

/** What the scheduler knows of a remote cloud when a VM finds no local host. */
export interface CloudCandidate {
  readonly id: string;
  readonly name: string;
  readonly burst: 'never' | 'when-full';
  readonly capacityVms: number;
  /** VMs bound to it now. */
  readonly bound: number;
  readonly pricePerHour: number;
  readonly instanceTypes: Readonly<Record<string, string>>;
  readonly images: Readonly<Record<string, string>>;
  /** It makes a VM's image available on demand (upload, register) when its map has no AMI for it. */
  readonly uploadsImages?: boolean | undefined;
  /** Why it takes nothing right now (unreachable, a capacity refusal being waited out); absent: it may. */
  readonly unavailable?: string | undefined;
}

/** The slice of a VM that decides whether and where it bursts. */
export interface CloudDemand {
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly requirements?: string | undefined;
  /** The VM's image: a cloud's image map may name it by id or by name. */
  readonly image: { readonly id: string; readonly name: string | undefined };
  /**
   * Its template's burst flag: a cloud's name (that cloud only, even one
   * whose policy is `never`) or `any` (every cloud, `never` ones included);
   * absent: the clouds whose policy is `when-full`.
   */
  readonly burst?: string | undefined;
  /**
   * Why clouds may not take it yet unless it asks for one by requirement
   * (the controller's wait policy: it has not waited long enough for a local
   * host); absent: they may.
   */
  readonly notYet?: string | undefined;
}

/** The template flag `burst: any`: every cloud (a cloud may not take this name). */
export const ANY_CLOUD = 'any';

export type CloudChoice =
  /**
   * `imageId` is the AMI, or `upload:<nubo image id>` when the image is to be made available there first;
   * `asked`: its requirements ask for this cloud by name (the wait policy does not hold it back).
   */
  | { readonly cloudId: string; readonly name: string; readonly instanceType: string; readonly imageId: string; readonly asked: boolean }
  | { readonly cloudId: undefined; readonly reasons: readonly string[] };

/** A cloud as the requirements expression sees it: `cloud` is its name, and its room is not what limits it (its VM limit is). */
function cloudView(c: CloudCandidate): HostView {
  const big = Number.MAX_SAFE_INTEGER;
  return {
    id: c.id, name: c.name, state: 'enabled', cpuModel: '', supportedCpuModels: [], cpuFlags: [], load: 0, labels: {}, datastores: [], networks: [], cloud: c.name,
    totalCpus: big, totalMemoryMiB: big, totalDiskMiB: big, reservedCpus: 0, reservedMemoryMiB: 0, reservedDiskMiB: 0,
  };
}

/**
 * Which remote cloud a VM that no local host takes goes to, if any (the
 * caller tried the local hosts first). A cloud is a candidate when the VM's
 * requirements hold for it and either the requirements ask for it by name
 * (`cloud == "burst-1"`: they hold for it and not for a local host), or — the
 * wait policy allowing (`notYet` absent) — its template's burst flag names it
 * (or `any`), or, without a flag naming another cloud, its policy is
 * `when-full`; it must be available, map the VM's size to an instance type
 * and its image to an AMI, and be under its VM limit. The cheapest candidate
 * wins (then by name). Otherwise every cloud's reason.
 */
export function chooseCloud(demand: CloudDemand, clouds: readonly CloudCandidate[]): CloudChoice {
  const holds = demand.requirements === undefined || demand.requirements.trim() === '' ? undefined : compileRequirements(demand.requirements);
  const reasons: string[] = [];
  const fit: { c: CloudCandidate; instanceType: string; imageId: string; asked: boolean }[] = [];
  for (const c of clouds) {
    const view = cloudView(c);
    const why = refusal(c, view, demand, holds);
    if (typeof why === 'string') reasons.push(`${c.name}: ${why}`);
    else fit.push({ c, ...why });
  }
  fit.sort((a, b) => a.c.pricePerHour - b.c.pricePerHour || (a.c.name < b.c.name ? -1 : a.c.name > b.c.name ? 1 : 0));
  const best = fit[0];
  return best === undefined ? { cloudId: undefined, reasons } : { cloudId: best.c.id, name: best.c.name, instanceType: best.instanceType, imageId: best.imageId, asked: best.asked };
}

function refusal(c: CloudCandidate, view: HostView, d: CloudDemand, holds: ((h: HostView) => boolean) | undefined): string | { instanceType: string; imageId: string; asked: boolean } {
  if (holds !== undefined && !holds(view)) return 'the VM\'s requirements exclude it';
  const asked = holds !== undefined && !holds({ ...view, cloud: '' });
  if (!asked) {
    if (d.burst !== undefined && d.burst !== ANY_CLOUD && d.burst !== c.name) return `the VM's template bursts to ${d.burst} only`;
    const flagged = d.burst === ANY_CLOUD || d.burst === c.name;
    if (c.burst === 'never' && !flagged) return `it takes only VMs that ask for it (requirements: cloud == "${c.name}", or a template with burst: ${c.name} or ${ANY_CLOUD})`;
    if (d.notYet !== undefined) return d.notYet;
  }
  if (c.unavailable !== undefined) return c.unavailable;
  const size = sizeKey(d.vcpus, d.memoryMiB);
  const instanceType = own(c.instanceTypes, size);
  if (instanceType === undefined) return `its size map has no instance type for ${size} (${d.vcpus} vCPU, ${d.memoryMiB} MiB)`;
  const imageId = own(c.images, d.image.id) ?? (d.image.name === undefined ? undefined : own(c.images, d.image.name));
  if (imageId === undefined && c.uploadsImages !== true) return `its image map has no AMI for image ${d.image.name ?? d.image.id}`;
  if (c.bound >= c.capacityVms) return `it is at its limit (${c.bound} of ${c.capacityVms} VMs)`;
  return { instanceType, imageId: imageId ?? `${UPLOAD_PREFIX}${d.image.id}`, asked };
}

/** The binding's image of a VM whose image is to be made available on the cloud first (uploaded, registered). */
export const UPLOAD_PREFIX = 'upload:';

/** A map's own entry only: a key such as `constructor` must not reach Object.prototype. */
const own = (m: Readonly<Record<string, string>>, k: string): string | undefined => (Object.hasOwn(m, k) ? m[k] : undefined);
