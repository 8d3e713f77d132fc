import type { VmDetailView, VmView } from '../contract/vm-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import { Ec2ApiError } from './ec2-api-error.js';
import { EC2_ZONE, nativeCall, type Ec2Call, type Ec2Context } from './ec2-context.js';
import { zoneOfCluster } from './ec2-zones.js';
import { DEFAULT_CLUSTER } from '../core/placement/cluster-fit.js';
import { ec2StateOf } from './ec2-instance-state.js';
import { shownInstanceType } from './ec2-instance-types.js';
import type { InstanceRecord, SecurityGroupRecord } from './ec2-records.js';
import type { XmlObject } from './ec2-xml.js';
import type { Filterable } from './ec2-filters.js';

/**
 * A VM as detailed as describing it needs: its view and NICs (its address); its history when read (a VM being
 * terminated shows `shutting-down`) — a VM RunInstances has just made has none that matters, and the create's
 * answer has its NICs, so it is described with no read.
 */
export type DescribedVm = VmView & Pick<VmDetailView, 'nics'> & Partial<Pick<VmDetailView, 'history'>>;

/** One instance as EC2 describes it, with what its filters match on. */
export interface Ec2Instance {
  readonly vm: DescribedVm;
  readonly instanceId: string;
  readonly reservationId: string;
  readonly xml: XmlObject;
  readonly filterable: Filterable;
}

/** Beyond this many templates named by the VMs described, one read of the whole list costs less than one read each. */
const TEMPLATES_READ_ONE_BY_ONE = 4;

/**
 * The templates (AMIs) the VMs name, as the caller may see them: `known` ones
 * (RunInstances has read its AMI's already), then each other one by name —
 * a poll of one instance (the SDK's waiters, a script's loop) reads one
 * template, not the caller's whole catalog — or, for many, the whole list.
 */
async function templatesOf(ctx: Ec2Context, call: Ec2Call, vms: readonly VmView[], known: readonly TemplateView[]): Promise<TemplateView[]> {
  const named = (t: TemplateView, ref: string): boolean => t.name === ref || t.id === ref;
  const wanted = [...new Set(vms.map((v) => v.template).filter((ref): ref is string => ref !== null && !known.some((t) => named(t, ref))))];
  if (wanted.length === 0) return [...known];
  if (wanted.length > TEMPLATES_READ_ONE_BY_ONE) return [...known, ...await nativeCall<TemplateView[]>(ctx, call, 'GET', '/api/v1/templates', undefined)];
  const found = await Promise.all(wanted.map((ref) => nativeCall<TemplateView>(ctx, call, 'GET', `/api/v1/templates/${encodeURIComponent(ref)}`, undefined, { notFound: 'InvalidAMIID.NotFound' }).then(
    (t) => (named(t, ref) ? t : undefined), (err: unknown) => {
      if (err instanceof Ec2ApiError && err.awsCode === 'InvalidAMIID.NotFound') return undefined;
      throw err;
    })));
  const all = found.filter((t): t is TemplateView => t !== undefined);
  // One not found by name (gone, no longer visible, or a name two visible templates share): matched in the list as always.
  if (all.length < wanted.length) return [...known, ...await nativeCall<TemplateView[]>(ctx, call, 'GET', '/api/v1/templates', undefined)];
  return [...known, ...all];
}

/**
 * The caller's VMs (as the native API lets them see them) as EC2 instances; a VM given as its detail (GET /vms/{id}, as
 * DescribeInstances' InstanceId.N reads it) is not read again, nor a template in `known`. Each record is read for all
 * the VMs at once (no read per VM), and a VM whose template has an AMI id already (every instance RunInstances made)
 * shows it without its template being read — so a poll of one instance reads no template at all; as on EC2, an
 * instance keeps showing the AMI it was launched from after that AMI is deregistered or no longer shared.
 */
export async function describeVms(ctx: Ec2Context, call: Ec2Call, vms: readonly (VmView | VmDetailView)[], known: readonly TemplateView[] = []): Promise<Ec2Instance[]> {
  const vmIds = vms.map((v) => v.id);
  const templateIdOf = (v: VmView): string | undefined => v.templateId ?? undefined;
  const mappedAmis = await ctx.records.mappedAwsIdsOf('image', vms.flatMap((v) => templateIdOf(v) ?? []));
  const amiOfMapped = (v: VmView): string | undefined => mappedAmis.get(templateIdOf(v) ?? '');
  // Only a VM whose template has no AMI id yet needs its template: to map it now.
  const unmapped = vms.filter((v) => amiOfMapped(v) === undefined);
  const templates = await templatesOf(ctx, call, unmapped, known);
  const templateOf = (v: VmView): TemplateView | undefined => {
    const id = templateIdOf(v);
    return templates.find((t) => (id !== undefined ? t.id === id : t.name === v.template || t.id === v.template));
  };
  // The instances' i- ids first (kept in memory once mapped: no read), then their records, groups and tags in one read.
  const ids = await ctx.records.awsIdsOf('instance', vmIds);
  const [facts, details] = await Promise.all([
    ctx.records.describeFacts(call.userId, vmIds, ids),
    Promise.all(vms.map(async (v) => ('history' in v && 'nics' in v ? v : nativeCall<VmDetailView>(ctx, call, 'GET', `/api/v1/vms/${v.id}`, undefined, { notFound: 'InvalidInstanceID.NotFound' })))),
  ]);
  const shownTemplates = [...new Set(unmapped.flatMap((v) => templateOf(v)?.id ?? []))];
  const amis = await ctx.records.awsIdsOf('image', shownTemplates);
  const amiOfTemplate = new Map(shownTemplates.map((id, i) => [id, amis[i] ?? '']));
  const out: Ec2Instance[] = [];
  for (const [i, v] of vms.entries()) {
    const instanceId = ids[i] ?? '';
    const detail = details[i];
    if (detail === undefined) continue;
    const template = templateOf(v);
    const imageId = amiOfMapped(v) ?? (template ? amiOfTemplate.get(template.id) ?? '' : '');
    const rec: InstanceRecord | undefined = facts.records.get(v.id);
    const sgs = facts.groups.get(v.id) ?? [];
    const myTags = new Map(facts.tags.filter((t) => t.resourceId === instanceId).map((t) => [t.key, t.value]));
    out.push(instanceOf(ctx, detail, { instanceId, imageId, rec, sgs, tags: myTags }));
  }
  return out;
}

/** What an instance's description takes besides its VM: its ids, its record, groups and tags. */
export interface InstanceFacts {
  readonly instanceId: string;
  readonly imageId: string;
  readonly rec: InstanceRecord | undefined;
  readonly sgs: readonly SecurityGroupRecord[];
  readonly tags: ReadonlyMap<string, string>;
}

/** One instance from what is known of it (describeVms reads those facts; RunInstances has them all at hand). */
export function instanceOf(ctx: Pick<Ec2Context, 'instanceTypes'>, vm: DescribedVm, o: InstanceFacts): Ec2Instance {
  const state = ec2StateOf(vm.state, vm.history?.at(-1)?.action.startsWith('terminate') === true);
  const ip = vm.nics.find((n) => n.address !== null)?.address?.split('/')[0] ?? null;
  const instanceType = shownInstanceType(ctx.instanceTypes, o.rec?.instanceType, vm.vcpus, vm.memoryMiB);
  const reservationId = o.rec?.reservationId ?? `r-${o.instanceId.slice(2)}`;
  const groupSet = o.sgs.map((g) => ({ groupId: g.id, groupName: g.name }));
  // Its cluster's zone; a VM that waits for a host and asked for no cluster is shown in the default one.
  const zone = zoneOfCluster(vm.cluster ?? DEFAULT_CLUSTER);
  const xml: XmlObject = {
    instanceId: o.instanceId,
    imageId: o.imageId,
    instanceState: { code: state.code, name: state.name },
    privateDnsName: ip === null ? '' : `ip-${ip.replace(/\./g, '-')}.${EC2_ZONE.slice(0, -1)}.compute.internal`,
    dnsName: '',
    reason: vm.stateReason ?? '',
    keyName: o.rec?.keyName ?? undefined,
    amiLaunchIndex: o.rec?.launchIndex ?? 0,
    productCodes: [],
    instanceType,
    launchTime: vm.createdAt,
    placement: { availabilityZone: zone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    privateIpAddress: ip ?? undefined,
    groupSet,
    stateReason: vm.stateReason === null ? undefined : { code: `nubo.${vm.state}`, message: vm.stateReason },
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/vda',
    blockDeviceMapping: [],
    virtualizationType: 'hvm',
    clientToken: '',
    tagSet: [...o.tags].map(([key, value]) => ({ key, value })),
    hypervisor: 'xen',
    networkInterfaceSet: [],
    ebsOptimized: false,
  };
  const fields: Record<string, string[]> = {
    'instance-id': [o.instanceId],
    'instance-state-name': [state.name],
    'instance-state-code': [String(state.code)],
    'instance-type': [instanceType],
    'image-id': [o.imageId],
    'key-name': o.rec?.keyName ? [o.rec.keyName] : [],
    'availability-zone': [zone],
    'private-ip-address': ip === null ? [] : [ip],
    'reservation-id': [reservationId],
    'instance.group-id': o.sgs.map((g) => g.id),
    'instance.group-name': o.sgs.map((g) => g.name),
    'launch-index': [String(o.rec?.launchIndex ?? 0)],
  };
  return { vm, instanceId: o.instanceId, reservationId, xml, filterable: { fields, tags: o.tags } };
}

export const INSTANCE_FILTERS = ['instance-id', 'instance-state-name', 'instance-state-code', 'instance-type', 'image-id', 'key-name', 'availability-zone', 'private-ip-address', 'reservation-id', 'instance.group-id', 'instance.group-name', 'launch-index'];

/** Reservations (EC2's grouping of one RunInstances' instances) of these instances, in order of first appearance. */
export function reservationsOf(instances: readonly Ec2Instance[], ownerId: string): XmlObject[] {
  const by = new Map<string, Ec2Instance[]>();
  for (const i of instances) by.set(i.reservationId, [...(by.get(i.reservationId) ?? []), i]);
  return [...by].map(([reservationId, list]) => ({ reservationId, ownerId, groupSet: [], instancesSet: list.map((i) => i.xml) }));
}
