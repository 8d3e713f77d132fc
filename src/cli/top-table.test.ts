import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostTopTable, vmTopTable } from './top-table.js';

const at = '2026-01-01T00:00:00.000Z';
const sample = (cpu: number) => ({ at, cpuPercent: cpu, vcpuPercent: cpu - 1, rssBytes: 64 * 2 ** 20, memoryBytes: 128 * 2 ** 20, diskReadBytesPerSec: 0, diskWriteBytesPerSec: 1536, netRxBytesPerSec: 2 * 2 ** 20, netTxBytesPerSec: 10 });

describe('top tables', () => {
  it('vm top: busiest first, rates per second, a VM without a sample last with dashes', () => {
    const out = vmTopTable([
      { vmId: 'aaaaaaaa-1', name: 'calm', hostId: 'h', sample: sample(3) },
      { vmId: 'bbbbbbbb-2', name: 'new', hostId: null, sample: null },
      { vmId: 'cccccccc-3', name: 'hot', hostId: 'h', sample: sample(97.25) },
    ]).split('\n');
    assert.match(out[0] ?? '', /^ID\s+NAME\s+CPU\s+VCPU\s+MEMORY/);
    assert.match(out[1] ?? '', /^cccccccc\s+hot\s+97\.3%\s+96\.3%\s+64 MiB\/128 MiB\s+0 B\/s\s+1\.5 KiB\/s\s+2 MiB\/s\s+10 B\/s/);
    assert.match(out[2] ?? '', /^aaaaaaaa\s+calm\s+3\.0%/);
    assert.match(out[3] ?? '', /^bbbbbbbb\s+new\s+-\s+-/);
  });

  it('host top: the machine\'s CPU of its CPUs, and a host not sampled yet', () => {
    const out = hostTopTable([
      { hostId: '2', name: 'h2', state: 'offline', sample: null },
      { hostId: '1', name: 'h1', state: 'enabled', sample: { ...sample(150), vms: 2, machineCpuPercent: 80, machineCpus: 2, machineMemoryUsedBytes: 2 ** 30, machineMemoryTotalBytes: 4 * 2 ** 30 } },
    ]).split('\n');
    assert.match(out[1] ?? '', /^h1\s+enabled\s+2\s+80\.0% of 2\s+150\.0%\s+1 GiB\/4 GiB/);
    assert.match(out[2] ?? '', /^h2\s+offline\s+-/);
  });
});
