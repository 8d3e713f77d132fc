import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Store } from '../store/open-store.js';
import { ec2Actions } from './ec2-actions.js';
import type { Ec2Authenticator } from './ec2-authenticator.js';
import { compileInstanceTypes, type InstanceType } from './ec2-instance-types.js';
import { Ec2Records, type Ec2Tables } from './ec2-records.js';
import { firewallsFollow, type VmFirewallSink } from './ec2-security-groups.js';
import { createEc2Server } from './ec2-server.js';
import type { NativeApi } from './native-api.js';
import type { Failpoints } from '../util/failpoints.js';

/** EC2's listen address: 7490 beside the native API's 7480. */
export const DEFAULT_EC2_PORT = 7490;

export interface Ec2EndpointOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly store: Store;
  readonly api: NativeApi;
  readonly authenticator: Ec2Authenticator;
  readonly instanceTypes?: readonly InstanceType[] | undefined;
  /** Where the instances' firewalls (their security groups' rules) go; default: nowhere (the groups are only described). */
  readonly vmFirewalls?: VmFirewallSink | undefined;
  readonly failpoints?: Failpoints | undefined;
  readonly logger: Logger;
}

export interface Ec2Endpoint {
  readonly url: string;
  readonly records: Ec2Records;
  close(): Promise<void>;
}

/** Starts the EC2 Query API's listener over the controller's store and native API. */
export async function startEc2Endpoint(o: Ec2EndpointOptions): Promise<Ec2Endpoint> {
  // The EC2 tables (migration 0015) are typed by the adaptor itself; the store's Kysely instance reaches them.
  const records = new Ec2Records(o.store.db as unknown as Kysely<Ec2Tables>);
  const changed = o.vmFirewalls === undefined ? async () => undefined : firewallsFollow(records, o.vmFirewalls);
  // A controller that stopped between a rule change and the VMs' specs finishes it now (a VM allowing the same is left as it is).
  if (o.vmFirewalls !== undefined) await changed(await records.instancesWithGroups());
  let url = '';
  const context = { api: o.api, records, instanceTypes: compileInstanceTypes(o.instanceTypes), failpoints: o.failpoints, get endpoint() { return url; } };
  const server = await createEc2Server({ context, authenticator: o.authenticator, actions: ec2Actions(changed), logger: o.logger });
  await server.listen({ host: o.listen.host, port: o.listen.port });
  url = `http://${o.listen.host}:${(server.server.address() as AddressInfo).port}`;
  o.logger.info({ url }, 'EC2 Query API listening');
  return { url, records, close: () => server.close() };
}
