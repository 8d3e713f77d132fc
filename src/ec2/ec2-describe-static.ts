import { checkFilters, passesFilters } from './ec2-filters.js';
import { EC2_REGION, nativeCall, type Ec2Handler } from './ec2-context.js';
import { zoneIdOfCluster, zoneOfCluster } from './ec2-zones.js';
import type { ZoneView } from '../contract/cluster-schemas.js';
import { Ec2ApiError } from './ec2-api-error.js';

/** DescribeRegions: the one region, `nubo-1`, at this endpoint. */
export const describeRegions: Ec2Handler = async (ctx, call) => {
  const names = call.params.list('RegionName');
  const unknown = names.find((n) => n !== EC2_REGION);
  if (unknown !== undefined) throw new Ec2ApiError('InvalidParameterValue', `Invalid value for parameter RegionName: ${unknown} is not a region of this cloud (${EC2_REGION})`);
  return { regionInfo: [{ regionName: EC2_REGION, regionEndpoint: new URL(ctx.endpoint).host, optInStatus: 'opt-in-not-required' }] };
};

/**
 * DescribeAvailabilityZones: one zone per cluster (ec2-zones.ts: `nubo-1a`
 * for `default`, `nubo-1-<cluster>` for the others); `available` while one of
 * its hosts takes VMs, `unavailable` otherwise.
 */
export const describeAvailabilityZones: Ec2Handler = async (ctx, call) => {
  const filters = call.params.filters();
  checkFilters(filters, ['zone-name', 'zone-id', 'region-name', 'state']);
  const clusters = await nativeCall<ZoneView[]>(ctx, call, 'GET', '/api/v1/zones', undefined);
  const zones = clusters.map((c) => ({
    zoneName: zoneOfCluster(c.name), zoneId: zoneIdOfCluster(c.name), zoneState: c.hosts > 0 ? 'available' : 'unavailable',
    regionName: EC2_REGION, zoneType: 'availability-zone', optInStatus: 'opt-in-not-required', messageSet: [],
  }));
  const names = call.params.list('ZoneName');
  const unknown = names.find((n) => !zones.some((z) => z.zoneName === n));
  if (unknown !== undefined) throw new Ec2ApiError('InvalidParameterValue', `Invalid value for parameter ZoneName: ${unknown} is not a zone of this cloud (${zones.map((z) => z.zoneName).join(', ')})`);
  const shown = zones.filter((z) => (names.length === 0 || names.includes(z.zoneName))
    && passesFilters(filters, { fields: { 'zone-name': [z.zoneName], 'zone-id': [z.zoneId], 'region-name': [EC2_REGION], state: [z.zoneState] }, tags: new Map() }));
  return { availabilityZoneInfo: shown };
};

/** DescribeAccountAttributes: EC2-Classic-free, no default VPC (nubo's networks are not VPCs). */
export const describeAccountAttributes: Ec2Handler = async (_ctx, call) => {
  const all: Record<string, string[]> = { 'supported-platforms': ['EC2'], 'default-vpc': ['none'], 'max-instances': ['20'] };
  const wanted = call.params.list('AttributeName');
  const unknown = wanted.find((n) => !(n in all));
  if (unknown !== undefined) throw new Ec2ApiError('InvalidParameterValue', `Invalid value for parameter AttributeName: ${unknown} is not one of ${Object.keys(all).join(', ')}`);
  const names = wanted.length > 0 ? wanted : Object.keys(all);
  return { accountAttributeSet: names.map((n) => ({ attributeName: n, attributeValueSet: (all[n] ?? []).map((v) => ({ attributeValue: v })) })) };
};

/** DescribeInstanceTypes: the configured table (ec2-instance-types.ts). */
export const describeInstanceTypes: Ec2Handler = async (ctx, call) => {
  const filters = call.params.filters();
  checkFilters(filters, ['instance-type', 'vcpu-info.default-vcpus', 'memory-info.size-in-mib']);
  const wanted = call.params.list('InstanceType');
  const unknown = wanted.find((n) => !ctx.instanceTypes.has(n));
  if (unknown !== undefined) throw new Ec2ApiError('InvalidInstanceType', `The instance type ${JSON.stringify(unknown)} does not exist; DescribeInstanceTypes lists those there are`);
  const types = [...ctx.instanceTypes.values()].filter((t) => (wanted.length === 0 || wanted.includes(t.name))
    && passesFilters(filters, { fields: { 'instance-type': [t.name], 'vcpu-info.default-vcpus': [String(t.vcpus)], 'memory-info.size-in-mib': [String(t.memoryMiB)] }, tags: new Map() }));
  return {
    instanceTypeSet: types.map((t) => ({
      instanceType: t.name, currentGeneration: true, bareMetal: false, hypervisor: 'kvm',
      supportedUsageClasses: ['on-demand'], supportedRootDeviceTypes: ['ebs'], supportedVirtualizationTypes: ['hvm'],
      processorInfo: { supportedArchitectures: ['x86_64'] },
      vCpuInfo: { defaultVCpus: t.vcpus, defaultCores: t.vcpus, defaultThreadsPerCore: 1 },
      memoryInfo: { sizeInMiB: t.memoryMiB },
    })),
  };
};
