import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NO_USAGE, QUOTA_RESOURCES, chargeIsLimited, quotaLines, quotaOverrun, sumUsage, type QuotaUsage } from './quota.js';

const usage = (u: Partial<Record<(typeof QUOTA_RESOURCES)[number], number>>): QuotaUsage => ({ ...NO_USAGE, ...u });

describe('quota arithmetic', () => {
  it('a charge that fits exactly passes; one more is the overrun, naming resource, limit, use and request', () => {
    assert.equal(quotaOverrun({ vms: 3 }, usage({ vms: 2 }), { vms: 1 }), undefined);
    assert.deepEqual(quotaOverrun({ vms: 3 }, usage({ vms: 3 }), { vms: 1 }), { resource: 'vms', limit: 3, used: 3, requested: 1 });
    assert.deepEqual(quotaOverrun({ memoryMiB: 1024 }, usage({ memoryMiB: 768 }), { vms: 1, memoryMiB: 512 }), { resource: 'memoryMiB', limit: 1024, used: 768, requested: 512 });
  });

  it('absent limits are unlimited; a limit of 0 refuses any growth of that resource', () => {
    assert.equal(quotaOverrun({}, usage({ vms: 10_000, vcpus: 1e6 }), { vms: 1, vcpus: 64 }), undefined);
    assert.deepEqual(quotaOverrun({ volumes: 0 }, NO_USAGE, { volumes: 1, diskMiB: 1 }), { resource: 'volumes', limit: 0, used: 0, requested: 1 });
  });

  it('only what the request grows is checked: over a lowered vcpus limit, a volume still fits', () => {
    const limits = { vcpus: 2, volumes: 5 };
    const now = usage({ vcpus: 8, volumes: 1 });
    assert.equal(quotaOverrun(limits, now, { volumes: 1, diskMiB: 64 }), undefined);
    assert.equal(quotaOverrun(limits, now, { vcpus: 0 }), undefined);
    assert.equal(quotaOverrun(limits, now, { vcpus: 1 })?.resource, 'vcpus');
  });

  it('the first overrun in resource order is reported when several would be', () => {
    assert.equal(quotaOverrun({ vms: 1, vcpus: 1, diskMiB: 1 }, usage({ vms: 1, vcpus: 1, diskMiB: 1 }), { vms: 1, vcpus: 1, diskMiB: 1 })?.resource, 'vms');
    assert.equal(quotaOverrun({ vms: 5, vcpus: 1, diskMiB: 1 }, usage({ vms: 1, vcpus: 1, diskMiB: 1 }), { vms: 1, vcpus: 1, diskMiB: 1 })?.resource, 'vcpus');
  });

  it("a group's usage is the sum of its members'", () => {
    const a = usage({ vms: 1, vcpus: 2, memoryMiB: 256, diskMiB: 100, volumes: 1, images: 2 });
    const b = usage({ vms: 2, vcpus: 1, memoryMiB: 128, diskMiB: 50 });
    assert.deepEqual(sumUsage([a, b]), { vms: 3, vcpus: 3, memoryMiB: 384, diskMiB: 150, volumes: 1, images: 2, leases: 0 });
    assert.deepEqual(sumUsage([]), NO_USAGE);
    assert.deepEqual(quotaOverrun({ vcpus: 3 }, sumUsage([a, b]), { vcpus: 1 }), { resource: 'vcpus', limit: 3, used: 3, requested: 1 });
  });

  it('chargeIsLimited: true only when a grown resource has a limit', () => {
    assert.equal(chargeIsLimited({}, { vms: 1 }), false);
    assert.equal(chargeIsLimited({ images: 1 }, { vms: 1, vcpus: 1 }), false);
    assert.equal(chargeIsLimited({ vcpus: 4 }, { vms: 1, vcpus: 1 }), true);
    assert.equal(chargeIsLimited({ vcpus: 4 }, { vcpus: 0 }), false);
  });

  it('quotaLines: one line per resource, percent of the limit (a tenth, rounded down), null when unlimited', () => {
    const lines = quotaLines({ vms: 3, memoryMiB: 1000, volumes: 0, images: 0 }, usage({ vms: 1, memoryMiB: 999, volumes: 2 }));
    assert.deepEqual(lines.map((l) => l.resource), [...QUOTA_RESOURCES]);
    const by = Object.fromEntries(lines.map((l) => [l.resource, l]));
    assert.deepEqual(by['vms'], { resource: 'vms', limit: 3, used: 1, percent: 33.3 });
    assert.equal(by['memoryMiB']?.percent, 99.9);
    assert.deepEqual(by['vcpus'], { resource: 'vcpus', limit: null, used: 0, percent: null });
    assert.equal(by['volumes']?.percent, 100, 'over a limit of 0: full');
    assert.equal(by['images']?.percent, 0, 'a limit of 0, nothing used');
  });
});
