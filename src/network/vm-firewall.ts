import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';
import { NetworkPlumbingError } from './network-plumbing-error.js';
import { parseCidr } from './ipv4.js';

/** One ingress rule of a VM's security groups: what may reach the guest. */
export interface FirewallRule {
  readonly protocol: 'tcp' | 'udp' | 'icmp' | 'all';
  /** tcp/udp: the port range; icmp: the type (-1: any) in `fromPort`; all: ignored. */
  readonly fromPort: number;
  readonly toPort: number;
  /** An IPv4 CIDR, canonical (host bits zero). */
  readonly cidr: string;
}

/** The nftables table of one TAP: its own, so that removing it (with the VM) touches nothing else. */
export function firewallTableName(tap: string): string {
  if (!/^[A-Za-z0-9_-]{1,15}$/.test(tap)) throw new NetworkPlumbingError(tap, `TAP ${JSON.stringify(tap)}: not an interface name`);
  return `nubo_sg_${tap.replace(/-/g, '_')}`;
}

/**
 * The nftables script of a VM's security groups on its TAP, in the `bridge`
 * family (frames between the ports of the host's bridge, which is where a
 * guest's traffic passes; it works inside the lab's namespaces). Ingress —
 * frames the bridge sends out of the TAP to the guest — is denied unless a
 * rule allows it; replies to what the guest opened pass (told statelessly:
 * see below), as do ARP and everything the guest sends (egress is open, as
 * EC2's default). The script replaces the table atomically: the
 * `table … {}` line makes sure there is one to delete, and the whole file is
 * one nftables transaction.
 */
export function renderVmFirewall(tap: string, rules: readonly FirewallRule[]): string {
  const table = firewallTableName(tap);
  const body = [
    `    oifname "${tap}" ether type arp accept`,
    // Replies to what the guest opened. The bridge family has no conntrack on these kernels (CONFIG_NF_CONNTRACK_BRIDGE
    // is not set), so "established" is told statelessly: a TCP segment that is not a bare SYN belongs to a connection
    // someone opened — a peer cannot open one to the guest without a bare SYN, which only a rule lets through —, and
    // ICMP errors and echo replies, DNS and NTP answers come back to what the guest sent.
    `    oifname "${tap}" tcp flags & (syn | ack) != syn accept`,
    `    oifname "${tap}" icmp type { echo-reply, destination-unreachable, time-exceeded } accept`,
    `    oifname "${tap}" udp sport { 53, 123 } accept`,
    ...rules.map((r) => `    oifname "${tap}" ${match(r)} accept`),
    `    oifname "${tap}" ether type { ip, ip6 } drop`,
  ];
  // `forward`: frames bridged from another port (a lab host's uplink, other guests). `output`: frames the host itself
  // sends through the bridge — on `nubo up` the user's curl from this machine, which `forward` never sees.
  const chain = (hook: 'forward' | 'output'): string[] => [`  chain ${hook} {`, `    type filter hook ${hook} priority 0; policy accept;`, ...body, '  }'];
  const lines = [`table bridge ${table} {}`, `delete table bridge ${table}`, `table bridge ${table} {`, ...chain('forward'), ...chain('output'), '}'];
  return `${lines.join('\n')}\n`;
}

function match(r: FirewallRule): string {
  const net = parseCidr(r.cidr);
  if (!net) throw new NetworkPlumbingError(r.cidr, `${JSON.stringify(r.cidr)} is not an IPv4 CIDR`);
  const from = `ip saddr ${r.cidr}`;
  switch (r.protocol) {
    case 'tcp': case 'udp':
      if (!Number.isInteger(r.fromPort) || !Number.isInteger(r.toPort) || r.fromPort < 0 || r.toPort > 65535 || r.fromPort > r.toPort) {
        throw new NetworkPlumbingError(r.cidr, `ports ${r.fromPort}-${r.toPort}: not a port range`);
      }
      return `${from} ${r.protocol} dport ${r.fromPort === r.toPort ? r.fromPort : `${r.fromPort}-${r.toPort}`}`;
    case 'icmp': return r.fromPort < 0 ? `${from} ip protocol icmp` : `${from} icmp type ${r.fromPort}`;
    case 'all': return from;
  }
}

/** Loads a VM's firewall (replacing the one it had) in the host's namespace. */
export async function applyVmFirewall(tap: string, rules: readonly FirewallRule[], netns: string | undefined, w: WaitOptions): Promise<void> {
  await nft(netns, ['-f', '-'], renderVmFirewall(tap, rules), w);
}

/** Loads a script renderVmFirewall made (one nftables transaction) in the host's namespace. */
export async function loadFirewallScript(script: string, netns: string | undefined, w: WaitOptions): Promise<void> {
  await nft(netns, ['-f', '-'], script, w);
}

/** Removes a VM's firewall by its exact table name; one that is not there is fine (removed already, or never made). */
export async function removeVmFirewall(tap: string, netns: string | undefined, w: WaitOptions): Promise<void> {
  const table = firewallTableName(tap);
  await nft(netns, ['-f', '-'], `table bridge ${table} {}\ndelete table bridge ${table}\n`, w);
}

/** Deletes one table of the bridge family by its exact name; one that is not there is fine. */
export async function removeFirewallTable(table: string, netns: string | undefined, w: WaitOptions): Promise<void> {
  if (!/^nubo_sg_[A-Za-z0-9_]{1,15}$/.test(table)) throw new NetworkPlumbingError(table, `${JSON.stringify(table)} is not a VM firewall table`);
  await nft(netns, ['-f', '-'], `table bridge ${table} {}\ndelete table bridge ${table}\n`, w);
}

/** The VM firewall tables (`nubo_sg_…`) of the bridge family in the namespace. */
export async function listFirewallTables(netns: string | undefined, w: WaitOptions): Promise<Set<string>> {
  const { stdout } = await nft(netns, ['list', 'tables', 'bridge'], undefined, w);
  return new Set(stdout.split('\n').map((l) => /^table bridge (nubo_sg_\S+)$/.exec(l.trim())?.[1]).filter((t): t is string => t !== undefined));
}

/** Whether the TAP has a firewall table (for tests and the agent's report). */
export async function hasVmFirewall(tap: string, netns: string | undefined, w: WaitOptions): Promise<boolean> {
  const { stdout } = await nft(netns, ['list', 'tables', 'bridge'], undefined, w);
  return stdout.split('\n').some((l) => l.trim() === `table bridge ${firewallTableName(tap)}`);
}

function nft(netns: string | undefined, args: string[], input: string | undefined, w: WaitOptions): Promise<{ stdout: string }> {
  const [file, argv] = netns === undefined ? ['/usr/sbin/nft', args] : ['ip', ['netns', 'exec', netns, '/usr/sbin/nft', ...args]];
  return runCommand(file, argv, { signal: w.signal, timeoutMs: w.timeoutMs ?? 10_000, input });
}
