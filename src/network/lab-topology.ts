import { createHash } from 'node:crypto';
import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';

/**
 * Idempotent `ip` helpers for the lab: each checks before it creates, and
 * removes only the exact name it is given (a missing one is fine).
 */

const o = (w: WaitOptions): { signal: AbortSignal | undefined; timeoutMs: number } => ({ signal: w.signal, timeoutMs: w.timeoutMs ?? 10_000 });
const ipIn = (netns: string | undefined, args: string[]): string[] => (netns === undefined ? args : ['-n', netns, ...args]);
const ip = (netns: string | undefined, args: string[], w: WaitOptions): Promise<unknown> => runCommand('ip', ipIn(netns, args), o(w));

export async function netnsExists(name: string, w: WaitOptions = {}): Promise<boolean> {
  const { stdout } = await runCommand('ip', ['netns', 'list'], o(w));
  return stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

export async function linkExists(name: string, netns?: string, w: WaitOptions = {}): Promise<boolean> {
  if (netns !== undefined && !(await netnsExists(netns, w))) return false;
  try {
    await ip(netns, ['link', 'show', 'dev', name], w);
    return true;
  } catch {
    return false;
  }
}

/** A namespace with its loopback up; true when it had to be made. */
export async function ensureNetns(name: string, w: WaitOptions = {}): Promise<boolean> {
  const made = !(await netnsExists(name, w));
  if (made) await runCommand('ip', ['netns', 'add', name], o(w));
  await ip(name, ['link', 'set', 'dev', 'lo', 'up'], w);
  return made;
}

/** IPv4 addresses (`a.b.c.d/len`) on a link. */
export async function addressesOf(name: string, netns?: string, w: WaitOptions = {}): Promise<string[]> {
  const { stdout } = await runCommand('ip', ipIn(netns, ['-j', '-4', 'addr', 'show', 'dev', name]), o(w));
  const links = JSON.parse(stdout) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
}

/** A locally administered unicast MAC, the same for the same (namespace, link) every time. */
export function stableMac(netns: string | undefined, name: string): string {
  const h = createHash('sha256').update(`${netns ?? ''}/${name}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/**
 * A Linux bridge, up, with `address` (CIDR) when given; true when the bridge or its address had to be made.
 *
 * Its MAC is set, not left to the kernel: a bridge without one takes the lowest MAC of its ports, so a VM's TAP
 * joining or leaving (a migration's destination starting) could change the MAC behind the host's address while
 * peers still hold the old one in their ARP caches — their packets to it are dropped until the entry goes stale
 * and is resolved again, up to a minute, which is what a migration's first connection to the host ran into.
 */
export async function ensureBridge(name: string, netns: string | undefined, address: string | undefined, w: WaitOptions = {}): Promise<boolean> {
  let made = false;
  if (!(await linkExists(name, netns, w))) {
    await ip(netns, ['link', 'add', 'name', name, 'address', stableMac(netns, name), 'type', 'bridge'], w);
    made = true;
  }
  if (address !== undefined && !(await addressesOf(name, netns, w)).includes(address)) {
    await ip(netns, ['addr', 'add', address, 'dev', name], w);
    made = true;
  }
  await ip(netns, ['link', 'set', 'dev', name, 'up'], w);
  return made;
}

/**
 * A veth pair: `rootEnd` in the root namespace on `fabricBridge`, `nsEnd`
 * inside `netns` on `hostBridge`; both up. True when the pair had to be made.
 */
export async function ensureUplink(rootEnd: string, fabricBridge: string, netns: string, nsEnd: string, hostBridge: string, w: WaitOptions = {}): Promise<boolean> {
  const made = !(await linkExists(rootEnd, undefined, w));
  if (made) {
    // A namespace end left alone (its pair half-made) would block the name.
    await deleteLink(nsEnd, netns, w);
    await ip(undefined, ['link', 'add', 'name', rootEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', netns], w);
  }
  await ip(undefined, ['link', 'set', 'dev', rootEnd, 'master', fabricBridge, 'up'], w);
  await ip(netns, ['link', 'set', 'dev', nsEnd, 'master', hostBridge, 'up'], w);
  return made;
}

/** Removes the link by its exact name (a veth takes its peer with it); true when there was one. */
export async function deleteLink(name: string, netns?: string, w: WaitOptions = {}): Promise<boolean> {
  if (!(await linkExists(name, netns, w))) return false;
  await ip(netns, ['link', 'del', 'dev', name], w);
  return true;
}

/** Removes the namespace by its exact name, and with it every link inside. Processes still inside keep it alive: stop them first. */
export async function deleteNetns(name: string, w: WaitOptions = {}): Promise<boolean> {
  if (!(await netnsExists(name, w))) return false;
  await runCommand('ip', ['netns', 'del', name], o(w));
  return true;
}
