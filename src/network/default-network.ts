import { NuboError } from '../errors/nubo-error.js';
import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';
import { addressesOf, ensureBridge, linkExists } from './lab-topology.js';

/**
 * The single-machine network `nubo up` gives its VMs, like libvirt's
 * `default`: a bridge in the root namespace holding the host's address
 * 198.19.0.1/16 (DESIGN §6: 198.19.0.0/16, so it never overlaps the lab
 * fabric's 198.18.0.0/16), and leases from 198.19.0.2 on — never the host's.
 */
export const DEFAULT_NETWORK = Object.freeze({
  name: 'default',
  bridge: 'nubo0',
  cidr: '198.19.0.0/16',
  gateway: '198.19.0.1',
  hostAddress: '198.19.0.1/16',
  range: Object.freeze({ first: '198.19.0.2', last: '198.19.0.254' }),
});

/** The host's address is on a link other than the bridge `nubo up` wants: a second nubo, or someone else's. */
export class DefaultBridgeError extends NuboError {
  readonly code = 'DEFAULT_BRIDGE_CONFLICT';
}

/**
 * The bridge, up, with the host's address; true when anything had to be
 * made. Refuses (DefaultBridgeError) when the address sits on another link:
 * two links with one /16 would split the host's route, and that link is not
 * ours to change.
 */
export async function ensureDefaultBridge(bridge: string, w: WaitOptions = {}): Promise<boolean> {
  const { stdout } = await runCommand('ip', ['-j', '-4', 'addr', 'show'], { signal: w.signal, timeoutMs: w.timeoutMs ?? 10_000 });
  const links = JSON.parse(stdout || '[]') as { ifname?: string; addr_info?: { local?: string; prefixlen?: number }[] }[];
  const holder = links.find((l) => l.ifname !== bridge && (l.addr_info ?? []).some((a) => a.local === DEFAULT_NETWORK.gateway));
  if (holder?.ifname !== undefined) {
    throw new DefaultBridgeError(`${DEFAULT_NETWORK.gateway} is already on ${holder.ifname}: another nubo up runs with --bridge ${holder.ifname}, or remove that address first`);
  }
  if (await linkExists(bridge, undefined, w)) {
    const other = (await addressesOf(bridge, undefined, w)).filter((a) => a !== DEFAULT_NETWORK.hostAddress);
    if (other.length > 0) throw new DefaultBridgeError(`${bridge} exists with ${other.join(', ')}: not a bridge nubo made; choose another with --bridge`);
  }
  return ensureBridge(bridge, undefined, DEFAULT_NETWORK.hostAddress, w);
}
