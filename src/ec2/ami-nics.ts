import type { NetworkView } from '../contract/network-schemas.js';

/**
 * The NICs of an AMI that RegisterImage makes: on AWS every instance gets an
 * interface in the default VPC, so an instance launched from your own disk is
 * reachable like one of the `tiny` AMI. nubo's counterpart is the network
 * `default` (the one `nubo up` makes), else the one network the caller may
 * use when there is exactly one; networks bound to a cluster are left out (they
 * would tie every instance of the AMI to that cluster). With none of those the
 * AMI gets a NIC on no network, as a template made without `--nic` does.
 */
export function amiNics(networks: readonly Pick<NetworkView, 'id' | 'name' | 'cluster'>[]): { network?: string }[] {
  const unbound = networks.filter((n) => n.cluster === null || n.cluster === undefined);
  const chosen = unbound.find((n) => n.name === 'default') ?? (unbound.length === 1 ? unbound[0] : undefined);
  return chosen === undefined ? [{}] : [{ network: chosen.id }];
}
