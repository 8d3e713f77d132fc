import { EC2_REGION, EC2_ZONE } from './ec2-context.js';
import { DEFAULT_CLUSTER } from '../core/placement/cluster-fit.js';

/**
 * Availability zones are clusters (issue 18). The `default` cluster keeps the
 * zone name it always had, `nubo-1a` (clients and scripts written for a
 * one-zone cloud keep working); every other cluster is `nubo-1-<cluster>`:
 * the region's name, so it reads like an AWS zone, and never one of another
 * cluster (a cluster called `a` is `nubo-1-a`, not `nubo-1a`).
 */
export function zoneOfCluster(cluster: string): string {
  return cluster === DEFAULT_CLUSTER ? EC2_ZONE : `${EC2_REGION}-${cluster}`;
}

/** The zone's id: `nubo-1-az1` for the default zone (as before), `nubo-1-az-<cluster>` for the others. */
export function zoneIdOfCluster(cluster: string): string {
  return cluster === DEFAULT_CLUSTER ? `${EC2_REGION}-az1` : `${EC2_REGION}-az-${cluster}`;
}

/** The cluster a zone name stands for, if it is a zone name at all (whether that cluster exists is the caller's question). */
export function clusterOfZone(zone: string): string | undefined {
  if (zone === EC2_ZONE) return DEFAULT_CLUSTER;
  const prefix = `${EC2_REGION}-`;
  if (!zone.startsWith(prefix)) return undefined;
  const cluster = zone.slice(prefix.length);
  return cluster === '' || cluster === DEFAULT_CLUSTER ? undefined : cluster;
}
