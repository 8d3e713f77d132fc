import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { counterDelta, vmSampleOf, type UsageCounters } from './vm-sample.js';

const base: UsageCounters = {
  cpuTimeMs: 10_000, vcpuTimeMs: 8_000, rssBytes: 100, memoryBytes: 128 * 2 ** 20,
  diskReadBytes: 1_000_000, diskWriteBytes: 2_000_000, netRxBytes: 5_000, netTxBytes: 7_000, incarnation: '42:1000',
};

describe('vmSampleOf', () => {
  it('turns two readings 2 s apart into percents of one CPU and bytes per second', () => {
    const cur = { ...base, cpuTimeMs: 11_500, vcpuTimeMs: 9_000, rssBytes: 200, diskReadBytes: 1_400_000, diskWriteBytes: 2_000_000, netRxBytes: 9_000, netTxBytes: 8_000 };
    const s = vmSampleOf({ atMs: 1_000, counters: base }, { atMs: 3_000, counters: cur });
    // 1500 ms of CPU in 2000 ms is 75 % of one CPU; 1000 ms of vCPU is 50 %.
    assert.deepEqual(s, {
      atMs: 3_000, cpuPercent: 75, vcpuPercent: 50, rssBytes: 200, memoryBytes: 128 * 2 ** 20,
      diskReadBytesPerSec: 200_000, diskWriteBytesPerSec: 0, netRxBytesPerSec: 2_000, netTxBytesPerSec: 500,
      diskReadBytes: 1_400_000, diskWriteBytes: 2_000_000, netRxBytes: 9_000, netTxBytes: 8_000,
    });
  });

  it('a guest on two busy vCPUs shows 200 %', () => {
    const s = vmSampleOf({ atMs: 0, counters: base }, { atMs: 1_000, counters: { ...base, cpuTimeMs: 12_000, vcpuTimeMs: 10_000 } });
    assert.equal(s?.cpuPercent, 200);
    assert.equal(s?.vcpuPercent, 200);
  });

  it('a restarted VM (new incarnation) counts from zero: its whole counters are the interval\'s', () => {
    const restarted = { ...base, cpuTimeMs: 500, vcpuTimeMs: 250, diskReadBytes: 4_000, diskWriteBytes: 0, netRxBytes: 10, netTxBytes: 0, incarnation: '77:5000' };
    const s = vmSampleOf({ atMs: 0, counters: base }, { atMs: 1_000, counters: restarted });
    // Never negative rates from counters that went back to zero.
    assert.equal(s?.cpuPercent, 50);
    assert.equal(s?.vcpuPercent, 25);
    assert.equal(s?.diskReadBytesPerSec, 4_000);
    assert.equal(s?.netRxBytesPerSec, 10);
  });

  it('a counter that went down in the same process (a NIC re-plugged) starts again from zero, the others stay deltas', () => {
    const s = vmSampleOf({ atMs: 0, counters: base }, { atMs: 2_000, counters: { ...base, netRxBytes: 600, diskWriteBytes: 2_100_000 } });
    assert.equal(s?.netRxBytesPerSec, 300);
    assert.equal(s?.diskWriteBytesPerSec, 50_000);
    assert.equal(s?.cpuPercent, 0);
  });

  it('has no sample without an earlier reading, or with no time between the two', () => {
    assert.equal(vmSampleOf(undefined, { atMs: 1, counters: base }), undefined);
    assert.equal(vmSampleOf({ atMs: 5, counters: base }, { atMs: 5, counters: base }), undefined);
    assert.equal(vmSampleOf({ atMs: 6, counters: base }, { atMs: 5, counters: base }), undefined);
  });
});

describe('counterDelta', () => {
  it('is the growth of a counter, or its whole value after a reset or a new process', () => {
    assert.equal(counterDelta(100, 150, true), 50);
    assert.equal(counterDelta(100, 30, true), 30);
    assert.equal(counterDelta(100, 150, false), 150);
  });
});
