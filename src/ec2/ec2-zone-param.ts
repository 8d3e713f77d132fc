import type { ZoneView } from '../contract/cluster-schemas.js';
import { invalidParameterValue } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context } from './ec2-context.js';
import { clusterOfZone, zoneIdOfCluster, zoneOfCluster } from './ec2-zones.js';

/**
 * The cluster a request's zone parameter names — a zone name (`nubo-1a`,
 * `nubo-1-east`) or a zone id (`nubo-1-az1`, `nubo-1-az-east`) of a cluster
 * that exists — else InvalidParameterValue naming `param` and the zones there are.
 */
export async function clusterOfZoneParam(ctx: Ec2Context, call: Ec2Call, zone: string, param: string): Promise<string> {
  const clusters = (await nativeCall<ZoneView[]>(ctx, call, 'GET', '/api/v1/zones', undefined)).map((z) => z.name);
  const byName = clusterOfZone(zone);
  const cluster = byName !== undefined && clusters.includes(byName) ? byName : clusters.find((c) => zoneIdOfCluster(c) === zone);
  if (cluster === undefined) throw invalidParameterValue(param, `${JSON.stringify(zone)} is not a zone of this cloud (${clusters.map(zoneOfCluster).join(', ')})`);
  return cluster;
}
