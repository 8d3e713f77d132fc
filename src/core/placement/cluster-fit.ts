/**
 * Clusters (issue 18): every host is in one; a VM may ask for one (its
 * template's or its request's `cluster`), and the networks and datastore it
 * uses may be bound to one. A host outside that cluster cannot take it. Hosts
 * from before clusters, and views built without one, are in `default`.
 */
export const DEFAULT_CLUSTER = 'default';

/** A network or datastore of the VM that only one cluster's hosts reach. */
export interface ClusterBinding {
  readonly kind: 'network' | 'datastore';
  /** The network's or datastore's name, for messages. */
  readonly name: string;
  readonly cluster: string;
}

/** What ties a VM to a cluster. */
export interface ClusterNeeds {
  /** The cluster the VM asks for; undefined: any. */
  readonly cluster?: string | undefined;
  readonly bindings?: readonly ClusterBinding[] | undefined;
}

/** Whether a host in `cluster` can hold a VM with these needs (no strings built: placement asks it of every host). */
export function fitsCluster(cluster: string, needs: ClusterNeeds): boolean {
  if (needs.cluster !== undefined && needs.cluster !== cluster) return false;
  if (needs.bindings !== undefined) for (const b of needs.bindings) if (b.cluster !== cluster) return false;
  return true;
}

/**
 * Why a host in `cluster` cannot hold a VM with these needs, naming every
 * cause ("the VM asks for cluster a; network web is bound to cluster a"), or
 * undefined when it can.
 */
export function clusterMismatch(cluster: string, needs: ClusterNeeds): string | undefined {
  const why: string[] = [];
  if (needs.cluster !== undefined && needs.cluster !== cluster) why.push(`the VM asks for cluster ${needs.cluster}`);
  for (const b of needs.bindings ?? []) if (b.cluster !== cluster) why.push(`${b.kind} ${b.name} is bound to cluster ${b.cluster}`);
  return why.length === 0 ? undefined : why.join('; ');
}
