import { COMPUTE, identifierOf, NUBO_AVAILABILITY_ZONE, type AttributeDefinition, type Mixin } from './occi-model.js';

/**
 * nubo's clusters as OCCI mixins, as OpenStack's OCCI interface (ooi) shows
 * availability zones: each cluster the caller may know of (`/api/v1/zones`)
 * is a mixin of compute (`…/availability_zone#<cluster>`). A compute carries
 * its cluster's mixin and the attribute `nubo.compute.cluster` (its host's
 * cluster; while it has no host, the one it asked for), so a collection is
 * filtered by either (`?category=` or `?attribute=nubo.compute.cluster=…`),
 * and the mixin's location lists the computes placed there. Given at a
 * create, the mixin asks for that cluster.
 */

export const CLUSTER_ATTRIBUTE = 'nubo.compute.cluster';

const TERM = /^[a-z0-9][a-z0-9_-]*$/;

/** A cluster's term: its name, when that is a valid OCCI term (names may hold upper case and dots: those get no mixin). */
export const zoneTerm = (cluster: string): string | undefined => (TERM.test(cluster) ? cluster : undefined);

const clusterAttribute: AttributeDefinition = {
  name: CLUSTER_ATTRIBUTE, type: 'string', mutable: false, required: false,
  description: 'the cluster (availability zone) the compute is placed in: its host\'s, or while it has none the one it asked for',
};

export function zoneMixin(cluster: string, hosts: number): Mixin | undefined {
  const term = zoneTerm(cluster);
  if (term === undefined) return undefined;
  return {
    class: 'mixin', term, scheme: NUBO_AVAILABILITY_ZONE, title: `availability zone ${cluster} (cluster of ${hosts} host${hosts === 1 ? '' : 's'})`,
    depends: [], applies: [identifierOf(COMPUTE)], location: `/mixin/availability_zone/${term}/`, actions: [], attributes: [clusterAttribute],
  };
}

/** The identifier of a cluster's mixin, if it has one. */
export const zoneIdentifier = (cluster: string): string | undefined => {
  const term = zoneTerm(cluster);
  return term === undefined ? undefined : NUBO_AVAILABILITY_ZONE + term;
};
