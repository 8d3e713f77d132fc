/**
 * Quotas (issue 13): the arithmetic, pure. A limit per resource for a user or
 * a group; absent means unlimited. A user's usage is what they own now; a
 * group's is the sum over its members, and a user in several groups counts in
 * each of them (every group's limit caps all its members' resources, whatever
 * group they "meant" a VM for — there is no such choice to game). A request
 * is checked only on the resources it grows, so a user already over a
 * lowered limit can still free things and do what grows nothing else.
 */

/** Counts, vCPUs, and sizes in MiB (the unit of every size in the store). */
export const QUOTA_RESOURCES = ['vms', 'vcpus', 'memoryMiB', 'diskMiB', 'volumes', 'images', 'leases'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** What each resource counts, for messages and the CLI. */
export const QUOTA_MEANING: Readonly<Record<QuotaResource, string>> = {
  vms: 'VMs not terminated',
  vcpus: 'vCPUs of those VMs',
  memoryMiB: 'memory of those VMs, MiB',
  diskMiB: 'disk of those VMs (each disk at its image\'s virtual size) and of volumes, MiB',
  volumes: 'volumes',
  images: 'images in the image store (uploaded, captured, saved)',
  leases: 'capacity leases not over (pending to active, suspended)',
};

/** Set limits only; an absent resource is unlimited. */
export type QuotaLimits = Readonly<Partial<Record<QuotaResource, number>>>;
export type QuotaUsage = Readonly<Record<QuotaResource, number>>;
/** How much a request adds; absent resources it does not grow. */
export type QuotaCharge = Readonly<Partial<Record<QuotaResource, number>>>;

export const NO_USAGE: QuotaUsage = Object.freeze({ vms: 0, vcpus: 0, memoryMiB: 0, diskMiB: 0, volumes: 0, images: 0, leases: 0 });

/** The sum of several usages (a group's over its members). */
export function sumUsage(usages: readonly QuotaUsage[]): QuotaUsage {
  const out: Record<QuotaResource, number> = { ...NO_USAGE };
  for (const u of usages) for (const r of QUOTA_RESOURCES) out[r] += u[r];
  return out;
}

/** The first resource `charge` would take past its limit. */
export interface QuotaOverrun {
  readonly resource: QuotaResource;
  readonly limit: number;
  readonly used: number;
  readonly requested: number;
}

/** The first resource (in QUOTA_RESOURCES order) that `charge` would take past `limits`, or undefined when it fits. */
export function quotaOverrun(limits: QuotaLimits, usage: QuotaUsage, charge: QuotaCharge): QuotaOverrun | undefined {
  for (const resource of QUOTA_RESOURCES) {
    const requested = charge[resource] ?? 0;
    const limit = limits[resource];
    if (requested <= 0 || limit === undefined) continue;
    if (usage[resource] + requested > limit) return { resource, limit, used: usage[resource], requested };
  }
  return undefined;
}

/** Whether any limit is set for a resource the charge grows (else the check needs no usage). */
export function chargeIsLimited(limits: QuotaLimits, charge: QuotaCharge): boolean {
  return QUOTA_RESOURCES.some((r) => (charge[r] ?? 0) > 0 && limits[r] !== undefined);
}

export interface QuotaLine {
  readonly resource: QuotaResource;
  /** null: unlimited. */
  readonly limit: number | null;
  readonly used: number;
  /** used / limit in percent, rounded down to a tenth; null when unlimited (a limit of 0 with nothing used is 0 %). */
  readonly percent: number | null;
}

/** One line per resource, for `quota show`. */
export function quotaLines(limits: QuotaLimits, usage: QuotaUsage): QuotaLine[] {
  return QUOTA_RESOURCES.map((resource) => {
    const limit = limits[resource];
    const used = usage[resource];
    if (limit === undefined) return { resource, limit: null, used, percent: null };
    const percent = limit === 0 ? (used === 0 ? 0 : Infinity) : Math.floor((used / limit) * 1000) / 10;
    return { resource, limit, used, percent: Number.isFinite(percent) ? percent : 100 };
  });
}
