import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';
import { formatIpv4, isLabAddress, parseCidr } from './ipv4.js';
import { NetworkPlumbingError } from './network-plumbing-error.js';

export interface TapRef {
  readonly name: string;
  /** Network namespace the TAP lives in; undefined for the root namespace. */
  readonly netns?: string;
}

function ipArgs(netns: string | undefined, args: string[]): string[] {
  return netns === undefined ? args : ['-n', netns, ...args];
}

type CmdOpts = { signal: AbortSignal | undefined; timeoutMs: number };
const cmdOpts = (opts: WaitOptions): CmdOpts => ({ signal: opts.signal, timeoutMs: opts.timeoutMs ?? 10_000 });

/** UDP port of the VXLAN segments (IANA). */
export const VLAN_VXLAN_PORT = 4789;

/**
 * The names of VLAN `vlan`'s segment on `bridge`: a bridge of its own for the
 * VLAN's TAPs and a VXLAN device (VNI = the VLAN id) that carries the VLAN
 * between hosts over `bridge`'s address. Both fit in 15 characters.
 */
export function vlanSegmentNames(bridge: string, vlan: number): { bridge: string; vxlan: string } {
  if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) throw new NetworkPlumbingError(bridge, `VLAN ${vlan}: must be 1-4094`);
  if (bridge.length > 10) throw new NetworkPlumbingError(bridge, `bridge ${bridge}: at most 10 characters for VLAN segments`);
  return { bridge: `${bridge}v${vlan}`, vxlan: `${bridge}x${vlan}` };
}

// One segment change at a time per process: two TAPs of one VLAN must not race to make (or remove) its segment.
let segmentLock: Promise<unknown> = Promise.resolve();
function withSegmentLock<T>(fn: () => Promise<T>): Promise<T> {
  const run = segmentLock.then(fn, fn);
  segmentLock = run.catch(() => {});
  return run;
}

async function linkJson(name: string, netns: string | undefined, o: CmdOpts): Promise<{ master?: string; addr_info?: { family?: string; local?: string; prefixlen?: number }[] } | undefined> {
  try {
    const { stdout } = await runCommand('ip', ipArgs(netns, ['-j', 'addr', 'show', 'dev', name]), o);
    return (JSON.parse(stdout) as { master?: string; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[])[0];
  } catch {
    return undefined;
  }
}

/**
 * VLAN `vlan` on `bridge`, made when missing (idempotent): the kernels the lab
 * runs on have neither `vlan_filtering` nor 802.1Q devices, so a VLAN is an L2
 * segment of its own — bridge `<bridge>v<N>` with VXLAN `<bridge>x<N>` (VNI N,
 * UDP 4789, source = `bridge`'s IPv4 address). Floods (ARP, unknown unicast)
 * go to the subnet broadcast of that address, so every host on the fabric
 * gets them without a peer list; unicast goes to the VTEP the VXLAN learnt.
 * The segment bridge does not learn on the VXLAN port, so a host's own
 * broadcast looping back cannot move a local guest's MAC onto the tunnel.
 */
async function ensureVlanSegment(bridge: string, vlan: number, netns: string | undefined, o: CmdOpts): Promise<string> {
  const names = vlanSegmentNames(bridge, vlan);
  const ip = (args: string[]): Promise<unknown> => runCommand('ip', ipArgs(netns, args), o);
  const br = (args: string[]): Promise<unknown> => runCommand('bridge', ipArgs(netns, args), o);
  if ((await linkJson(names.vxlan, netns, o)) === undefined) {
    const a = (await linkJson(bridge, netns, o))?.addr_info?.find((x) => x.family === 'inet');
    const cidr = a?.local !== undefined && a.prefixlen !== undefined ? parseCidr(`${a.local}/${a.prefixlen}`) : undefined;
    if (cidr === undefined || a?.local === undefined) throw new NetworkPlumbingError(bridge, `bridge ${bridge} has no IPv4 address to carry VLAN ${vlan}`);
    // Lab traffic only: the floods go to the whole subnet of that address.
    if (!isLabAddress(cidr.address) || cidr.prefix < 15) throw new NetworkPlumbingError(bridge, `bridge ${bridge}: VLAN segments only over a lab address (198.18.0.0/15), not ${a.local}/${a.prefixlen}`);
    const size = 2 ** (32 - cidr.prefix);
    const broadcast = formatIpv4(cidr.address - (cidr.address % size) + size - 1);
    await ip(['link', 'add', 'name', names.vxlan, 'type', 'vxlan', 'id', String(vlan), 'local', a.local, 'dstport', String(VLAN_VXLAN_PORT), 'learning']);
    await ip(['link', 'set', 'dev', names.vxlan, 'mtu', '1500']);
    await br(['fdb', 'append', '00:00:00:00:00:00', 'dev', names.vxlan, 'dst', broadcast]);
  }
  if ((await linkJson(names.bridge, netns, o)) === undefined) await ip(['link', 'add', 'name', names.bridge, 'type', 'bridge']);
  await ip(['link', 'set', 'dev', names.bridge, 'up']);
  await ip(['link', 'set', 'dev', names.vxlan, 'master', names.bridge, 'up']);
  await br(['link', 'set', 'dev', names.vxlan, 'learning', 'off']);
  return names.bridge;
}

/** Removes VLAN segment `segment` (a bridge named `<bridge>v<N>`) once no TAP is left on it. */
async function dropVlanSegmentIfUnused(segment: string, netns: string | undefined, o: CmdOpts): Promise<void> {
  const m = /^(.{1,10})v([1-9]\d{0,3})$/.exec(segment);
  if (!m?.[1] || !m[2] || Number(m[2]) > 4094) return;
  const names = vlanSegmentNames(m[1], Number(m[2]));
  // Only a segment this module made: its VXLAN is there.
  if ((await linkJson(names.vxlan, netns, o)) === undefined) return;
  const { stdout } = await runCommand('ip', ipArgs(netns, ['-j', 'link', 'show', 'master', segment]), o);
  const ports = (JSON.parse(stdout || '[]') as { ifname: string }[]).map((p) => p.ifname);
  if (ports.some((p) => p !== names.vxlan)) return;
  await runCommand('ip', ipArgs(netns, ['link', 'del', 'dev', names.vxlan]), o);
  await runCommand('ip', ipArgs(netns, ['link', 'del', 'dev', segment]), o);
}

/**
 * Creates a persistent TAP (so QEMU can attach to it by name without
 * privileges of its own) and enslaves it to `bridge` when given. With `vlan`
 * the TAP joins that VLAN's segment of `bridge` instead (see
 * `ensureVlanSegment`): the guest sends and gets untagged frames, and only
 * guests of the same VLAN, on any host of the fabric, share its L2.
 */
export async function createTap(tap: TapRef, bridge: string | undefined, opts: WaitOptions = {}, vlan?: number): Promise<void> {
  if (vlan !== undefined && bridge === undefined) throw new NetworkPlumbingError(tap.name, `TAP ${tap.name}: VLAN ${vlan} needs a bridge`);
  const o = cmdOpts(opts);
  await runCommand('ip', ipArgs(tap.netns, ['tuntap', 'add', 'dev', tap.name, 'mode', 'tap']), o);
  try {
    if (bridge !== undefined) {
      const master = vlan === undefined ? bridge : await withSegmentLock(() => ensureVlanSegment(bridge, vlan, tap.netns, o));
      await runCommand('ip', ipArgs(tap.netns, ['link', 'set', 'dev', tap.name, 'master', master]), o);
    }
    await runCommand('ip', ipArgs(tap.netns, ['link', 'set', 'dev', tap.name, 'up']), o);
  } catch (err) {
    await deleteTap(tap, opts);
    throw err;
  }
}

/** Removes the TAP by its exact name (and its VLAN segment when it was the last TAP on it); a TAP that is already gone is fine. */
export async function deleteTap(tap: TapRef, opts: WaitOptions = {}): Promise<void> {
  const o = cmdOpts(opts);
  const link = await linkJson(tap.name, tap.netns, o);
  if (link === undefined) return;
  await runCommand('ip', ipArgs(tap.netns, ['tuntap', 'del', 'dev', tap.name, 'mode', 'tap']), o);
  const master = link.master;
  if (master !== undefined && /v\d{1,4}$/.test(master)) await withSegmentLock(() => dropVlanSegmentIfUnused(master, tap.netns, o));
}

export async function tapExists(tap: TapRef, opts: WaitOptions = {}): Promise<boolean> {
  try {
    await runCommand('ip', ipArgs(tap.netns, ['link', 'show', 'dev', tap.name]), cmdOpts(opts));
    return true;
  } catch {
    return false;
  }
}
