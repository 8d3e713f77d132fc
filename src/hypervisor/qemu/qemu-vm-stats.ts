import { readFile } from 'node:fs/promises';
import type { VmStats } from '../hypervisor.js';
import type { WaitOptions } from '../../util/deadline.js';
import { parseTaskStat, TICK_MS } from './proc-task-stat.js';
import { tapCounters } from './tap-counters.js';
import type { LiveVm, QemuRegistry } from './qemu-registry.js';
import { waitDefault as opt } from './wait-default.js';

/**
 * A VM's usage counters, read from where each is kept: CPU and memory from
 * the QEMU process in /proc (the vCPU threads by the thread ids QMP names),
 * disk I/O from QMP's block stats, network I/O from the TAPs' counters in
 * QEMU's own network namespace.
 */
export async function readQemuVmStats(reg: QemuRegistry, vm: LiveVm, opts: WaitOptions): Promise<VmStats> {
  const qmp = reg.qmp(vm);
  const [procStat, status, netDev, blockstats, cpus] = await Promise.all([
    readFile(`/proc/${vm.pid}/stat`, 'utf8'),
    readFile(`/proc/${vm.pid}/status`, 'utf8'),
    // A VM without TAPs has no counters to read; a namespace that went away reads as none.
    vm.record.taps.length === 0 ? '' : readFile(`/proc/${vm.pid}/net/dev`, 'utf8').catch(() => ''),
    qmp.execute('query-blockstats', undefined, opt(opts, 5_000)),
    qmp.execute('query-cpus-fast', undefined, opt(opts, 5_000)),
  ]);
  const process = parseTaskStat(procStat);
  // The whole process's line counts exited threads too, so it never goes down; the vCPU threads are summed apart.
  const vcpuTicks = await Promise.all(
    cpus.map((c) => readFile(`/proc/${vm.pid}/task/${c['thread-id']}/stat`, 'utf8').then((l) => parseTaskStat(l).cpuTicks, () => 0)),
  );
  const disk = { rb: 0, wb: 0, ro: 0, wo: 0 };
  for (const b of blockstats) {
    disk.rb += b.stats.rd_bytes;
    disk.wb += b.stats.wr_bytes;
    disk.ro += b.stats.rd_operations;
    disk.wo += b.stats.wr_operations;
  }
  const net = tapCounters(netDev, vm.record.taps.map((t) => t.name));
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  return {
    cpuTimeMs: process.cpuTicks * TICK_MS,
    vcpuTimeMs: vcpuTicks.reduce((a, b) => a + b, 0) * TICK_MS,
    rssBytes: rssKb * 1024,
    memoryBytes: vm.record.spec.memoryMiB * 1024 * 1024,
    diskReadBytes: disk.rb,
    diskWriteBytes: disk.wb,
    diskReadOps: disk.ro,
    diskWriteOps: disk.wo,
    netRxBytes: net.rxBytes,
    netTxBytes: net.txBytes,
    incarnation: `${vm.pid}:${process.startTicks}`,
  };
}
