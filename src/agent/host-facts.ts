import { cpus, loadavg, totalmem, freemem } from 'node:os';
import { readFile, readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../util/run-command.js';

export interface HostFacts {
  readonly cpuModel: string;
  /** CPU models this host's QEMU can run a guest with. */
  readonly cpuModels: readonly string[];
  readonly cpuFlags: readonly string[];
  readonly totalCpus: number;
  readonly totalMemoryMiB: number;
}

/**
 * What does not change while the agent runs: read once at start-up. Under TCG
 * every model QEMU knows is runnable (it is emulated); with KVM a model needs
 * the host CPU's flags, which the controller's compatibility check compares.
 */
export async function readHostFacts(qemuBinary: string): Promise<HostFacts> {
  const { stdout } = await runCommand(qemuBinary, ['-cpu', 'help'], { timeoutMs: 15_000 });
  const cpuModels = stdout
    .split('\n')
    .map((l) => /^x86\s+(\S+)/.exec(l)?.[1])
    .filter((m): m is string => m !== undefined);
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const cpuFlags = (/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(/\s+/).filter(Boolean);
  return {
    cpuModel: 'qemu64',
    cpuModels,
    cpuFlags,
    totalCpus: cpus().length,
    totalMemoryMiB: Math.floor(totalmem() / 2 ** 20),
  };
}

/** Usage that changes: load (0..1 of all CPUs), memory and datastore space. */
export async function readHostUsage(dataDir: string, totalCpus: number): Promise<{ load: number; usedMemoryMiB: number; usedDiskMiB: number; totalDiskMiB: number }> {
  const fs = await statfs(dataDir);
  const totalDisk = fs.blocks * fs.bsize;
  const freeDisk = fs.bavail * fs.bsize;
  return {
    load: Math.min(1, (loadavg()[0] ?? 0) / totalCpus),
    usedMemoryMiB: Math.floor((totalmem() - freemem()) / 2 ** 20),
    usedDiskMiB: Math.floor((totalDisk - freeDisk) / 2 ** 20),
    totalDiskMiB: Math.floor(totalDisk / 2 ** 20),
  };
}

/** Linux bridges VMs can attach to on this host (in its network namespace, for lab hosts). */
export async function readHostBridges(netns: string | undefined, sysClassNet = '/sys/class/net'): Promise<string[]> {
  // Read every beat: a spawn of `ip` each time cost a host seconds of CPU a minute. The sysfs listing is only
  // this host's when the agent runs in the namespace itself (as `ip netns exec` starts lab agents, with its own /sys).
  if (netns === undefined || (await insideNetns(netns))) return readSysBridges(sysClassNet);
  const argv = ['-j', 'link', 'show', 'type', 'bridge'];
  const { stdout } = await runCommand('ip', ['netns', 'exec', netns, 'ip', ...argv], { timeoutMs: 5_000 });
  const links = JSON.parse(stdout || '[]') as { ifname?: string }[];
  return links.flatMap((l) => (typeof l.ifname === 'string' ? [l.ifname] : [])).sort();
}

/** The bridges under a sysfs `class/net` directory: the links that have a `bridge` directory. */
export async function readSysBridges(sysClassNet: string): Promise<string[]> {
  const links = await readdir(sysClassNet);
  const bridges = await Promise.all(links.map(async (l) => ((await stat(join(sysClassNet, l, 'bridge')).then((s) => s.isDirectory(), () => false)) ? [l] : [])));
  return bridges.flat().sort();
}

/** Whether this process runs in the named network namespace. */
async function insideNetns(netns: string): Promise<boolean> {
  const [mine, named] = await Promise.all([stat('/proc/self/ns/net').catch(() => undefined), stat(join('/run/netns', netns)).catch(() => undefined)]);
  return mine !== undefined && named !== undefined && mine.ino === named.ino && mine.dev === named.dev;
}
