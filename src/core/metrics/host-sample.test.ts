import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostSampleOf, machineCpuPercent, parseCpuTimes } from './host-sample.js';
import type { VmSample } from './vm-sample.js';

const vm = (cpu: number, diskW: number): VmSample => ({
  atMs: 9, cpuPercent: cpu, vcpuPercent: cpu / 2, rssBytes: 10, memoryBytes: 100, diskReadBytesPerSec: 1, diskWriteBytesPerSec: diskW,
  netRxBytesPerSec: 2, netTxBytesPerSec: 3, diskReadBytes: 0, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0,
});

describe('host samples', () => {
  it('reads the cpu line of /proc/stat: idle is idle + iowait', () => {
    const t = parseCpuTimes('cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\nintr 1');
    assert.deepEqual(t, { totalTicks: 1000, idleTicks: 840 });
  });

  it('a machine busy 300 of 1000 ticks is 30 % busy; no ticks is 0 %', () => {
    assert.equal(machineCpuPercent({ totalTicks: 1000, idleTicks: 840 }, { totalTicks: 2000, idleTicks: 1540 }), 30);
    assert.equal(machineCpuPercent({ totalTicks: 1000, idleTicks: 840 }, { totalTicks: 1000, idleTicks: 840 }), 0);
  });

  it('sums the VMs and adds the machine', () => {
    const h = hostSampleOf(9, [vm(50, 100), vm(150, 300)], { cpuPercent: 40, cpus: 2, memoryUsedBytes: 7, memoryTotalBytes: 8 });
    assert.deepEqual(h, {
      atMs: 9, vms: 2, cpuPercent: 200, vcpuPercent: 100, rssBytes: 20, memoryBytes: 200, diskReadBytesPerSec: 2, diskWriteBytesPerSec: 400,
      netRxBytesPerSec: 4, netTxBytesPerSec: 6, machineCpuPercent: 40, machineCpus: 2, machineMemoryUsedBytes: 7, machineMemoryTotalBytes: 8,
    });
    assert.equal(hostSampleOf(1, [], { cpuPercent: 0, cpus: 2, memoryUsedBytes: 1, memoryTotalBytes: 2 }).vms, 0);
  });
});
