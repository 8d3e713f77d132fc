import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { FakeDriver } from '../hypervisor/fake/fake-driver.js';
import { VmMetricsSampler, type MachineReading } from './vm-metrics-sampler.js';

const logger = pino({ level: 'silent' });
const spec = (id: string, vcpus = 1): unknown => ({ id, vcpus, memoryMiB: 128, boot: { kind: 'kernel', kernel: '/k' }, disks: [], nics: [] });

describe('VmMetricsSampler', () => {
  it('answers samples from the second round on, sums them per host, and forgets a VM that is gone', async () => {
    const hv = new FakeDriver({ allowedDirs: ['/'], checkFiles: false });
    await hv.start(spec('m1'));
    await hv.start(spec('m2', 2));
    // The machine: 1000 ticks per round, of which 250 busy.
    let round = 0;
    const readMachine = async (): Promise<MachineReading> => {
      round++;
      return { cpuTimes: { totalTicks: 1000 * round, idleTicks: 750 * round }, cpus: 2, memoryUsedBytes: 3, memoryTotalBytes: 8 };
    };
    const sampler = new VmMetricsSampler({ hypervisor: hv, intervalMs: 60_000, logger, readMachine });
    await sampler.sampleNow();
    assert.deepEqual(sampler.snapshot(), { intervalMs: 60_000, host: null, vms: [] });
    await sleep(50);
    await sampler.sampleNow();
    const snap = sampler.snapshot();
    assert.deepEqual(snap.vms.map((v) => v.id).sort(), ['m1', 'm2']);
    const m2 = snap.vms.find((v) => v.id === 'm2');
    assert.ok(m2 && m2.sample.vcpuPercent > 0 && m2.sample.memoryBytes === 128 * 2 ** 20 && m2.totals.diskReadBytes > 0);
    assert.equal(snap.host?.vms, 2);
    assert.equal(snap.host?.machineCpuPercent, 25);
    assert.equal(snap.host?.memoryBytes, 2 * 128 * 2 ** 20);
    const sum = snap.vms.reduce((a, v) => a + v.sample.cpuPercent, 0);
    assert.ok(Math.abs((snap.host?.cpuPercent ?? -1) - sum) < 1e-9);

    await hv.destroy('m1');
    await hv.pause('m2');
    await sleep(20);
    await sampler.sampleNow();
    // A paused VM is still sampled (its process lives); a destroyed one is gone.
    assert.deepEqual(sampler.snapshot().vms.map((v) => v.id), ['m2']);
    assert.equal(sampler.snapshot().host?.vms, 1);
  });

  it('a VM restarted between two rounds never shows a negative rate', async () => {
    const hv = new FakeDriver({ allowedDirs: ['/'], checkFiles: false });
    await hv.start(spec('r1'));
    const sampler = new VmMetricsSampler({ hypervisor: hv, intervalMs: 60_000, logger, readMachine: async () => ({ cpuTimes: { totalTicks: 1, idleTicks: 1 }, cpus: 1, memoryUsedBytes: 0, memoryTotalBytes: 1 }) });
    await sampler.sampleNow();
    await sleep(300);
    await sampler.sampleNow();
    await hv.destroy('r1');
    await hv.start(spec('r1'));
    await sleep(10);
    await sampler.sampleNow();
    const [r1] = sampler.snapshot().vms;
    assert.ok(r1);
    for (const [k, v] of Object.entries(r1.sample)) if (typeof v === 'number') assert.ok(v >= 0, `${k} = ${v}`);
  });
});
