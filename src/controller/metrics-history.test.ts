import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsHistory } from './metrics-history.js';
import type { HostSampleView, VmSampleView } from '../contract/metrics-schemas.js';

const vmSample = (t: number, cpu = 1): VmSampleView => ({
  at: new Date(t).toISOString(), cpuPercent: cpu, vcpuPercent: cpu / 2, rssBytes: 3, memoryBytes: 4,
  diskReadBytesPerSec: 5, diskWriteBytesPerSec: 6, netRxBytesPerSec: 7, netTxBytesPerSec: 8,
});
const totals = { diskReadBytes: 1, diskWriteBytes: 2, netRxBytes: 3, netTxBytes: 4 };
const hostSample = (t: number): HostSampleView => ({
  at: new Date(t).toISOString(), vms: 2, cpuPercent: 1, vcpuPercent: 2, rssBytes: 3, memoryBytes: 4, diskReadBytesPerSec: 5, diskWriteBytesPerSec: 6,
  netRxBytesPerSec: 7, netTxBytesPerSec: 8, machineCpuPercent: 9, machineCpus: 2, machineMemoryUsedBytes: 10, machineMemoryTotalBytes: 11,
});

describe('MetricsHistory', () => {
  it('gives back what it was given, since an instant, with the reporting host and the latest totals', () => {
    const h = new MetricsHistory(10);
    h.addVm('vm1', 'h1', vmSample(1_000, 10), totals);
    h.addVm('vm1', 'h2', vmSample(2_000, 20), { ...totals, diskWriteBytes: 99 });
    assert.deepEqual(h.vm('vm1'), { hostId: 'h2', totals: { ...totals, diskWriteBytes: 99 }, samples: [vmSample(1_000, 10), vmSample(2_000, 20)] });
    assert.deepEqual(h.vm('vm1', 1_000).samples, [vmSample(2_000, 20)]);
    assert.deepEqual(h.latestVm('vm1'), vmSample(2_000, 20));
    assert.deepEqual(h.vm('nope'), { hostId: null, totals: null, samples: [] });
    h.addHost('h1', hostSample(5));
    assert.deepEqual(h.host('h1'), [hostSample(5)]);
    assert.deepEqual(h.latestHost('h1'), hostSample(5));
  });

  it('an older sample reported late (the migration source\'s last one) changes neither the host nor the totals', () => {
    const h = new MetricsHistory(10);
    h.addVm('vm1', 'h2', vmSample(2_000), totals);
    h.addVm('vm1', 'h1', vmSample(1_500), { ...totals, netRxBytes: 1e9 });
    assert.deepEqual(h.vm('vm1'), { hostId: 'h2', totals, samples: [vmSample(2_000)] });
  });

  it('stays bounded: 10,000 VMs sampled round after round hold `samples` records each (4,320 bytes a VM by default)', () => {
    assert.equal(new MetricsHistory().samples, 60);
    const h = new MetricsHistory(4);
    for (let round = 1; round <= 9; round++) {
      for (let v = 0; v < 10_000; v++) h.addVm(`vm${v}`, 'h1', vmSample(round * 5_000), totals);
    }
    assert.deepEqual(h.footprint, { vms: 10_000, hosts: 0, bytes: 10_000 * 4 * 9 * 8 });
    assert.deepEqual(h.vm('vm7').samples.map((s) => Date.parse(s.at)), [30_000, 35_000, 40_000, 45_000]);
  });

  it('prunes the VMs and hosts that stopped reporting', () => {
    const h = new MetricsHistory(5);
    h.addVm('old', 'h1', vmSample(1_000), totals);
    h.addVm('new', 'h1', vmSample(9_000), totals);
    h.addHost('h1', hostSample(1_000));
    h.prune(5_000);
    assert.deepEqual(h.footprint, { vms: 1, hosts: 0, bytes: 5 * 9 * 8 });
    assert.equal(h.vm('old').samples.length, 0);
  });
});
