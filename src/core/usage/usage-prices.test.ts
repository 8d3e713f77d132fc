import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { compileUsagePrices, DEFAULT_USAGE_PRICES, parseUsagePrices, usagePricesView } from './usage-prices.js';
import { parseUsageMonth, usageMonthOf } from './usage-month.js';
import { usageAmountsOf } from './usage-amounts.js';
import { USAGE_CHARGES } from './usage-charge.js';
import { VM_STATES } from '../vm-state.js';

const fields = (f: () => unknown): string[] => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.issues.map((i) => i.field);
  }
  assert.fail('expected a ValidationError');
};

test('prices: the flag form, kept exactly in billionths; a missing price is 0', () => {
  const p = parseUsagePrices('vcpu-hour=0.01,memory-gib-hour=0.005,disk-gib-hour=0.0001,currency=EUR,decimals=4');
  assert.deepEqual(p, { currency: 'EUR', decimals: 4, vcpuHour: 10_000_000n, memoryGibHour: 5_000_000n, diskGibHour: 100_000n });
  assert.deepEqual(usagePricesView(p), { currency: 'EUR', decimals: 4, vcpuHour: '0.01', memoryGibHour: '0.005', diskGibHour: '0.0001' });
  assert.deepEqual(parseUsagePrices('vcpu-hour=2'), { ...DEFAULT_USAGE_PRICES, vcpuHour: 2_000_000_000n });
  assert.deepEqual(compileUsagePrices({ 'vcpu-hour': 0.25, decimals: 3, currency: 'CHF' }), { currency: 'CHF', decimals: 3, vcpuHour: 250_000_000n, memoryGibHour: 0n, diskGibHour: 0n });
  assert.ok(Object.isFrozen(p));
});

test('prices: every bad key is named and nothing is rounded away', () => {
  assert.deepEqual(fields(() => parseUsagePrices('vcpu-hour=-1,memory-gib-hour=0.0000000001,cpu=1')), ['cpu', 'vcpu-hour', 'memory-gib-hour']);
  assert.deepEqual(fields(() => parseUsagePrices('vcpu-hour')), ['vcpu-hour']);
  assert.deepEqual(fields(() => parseUsagePrices('vcpu-hour=1,vcpu-hour=2')), ['vcpu-hour']);
  assert.deepEqual(fields(() => parseUsagePrices('decimals=10')), ['decimals']);
  assert.deepEqual(fields(() => parseUsagePrices('decimals=1.5')), ['decimals']);
  assert.deepEqual(fields(() => parseUsagePrices('currency=a b')), ['currency']);
  assert.deepEqual(fields(() => compileUsagePrices({ 'disk-gib-hour': 'cheap' })), ['disk-gib-hour']);
});

test('months are UTC calendar months; anything but YYYY-MM with 01–12 is refused naming the field', () => {
  assert.deepEqual(parseUsageMonth('2026-12'), { month: '2026-12', start: Date.parse('2026-12-01T00:00:00Z'), end: Date.parse('2027-01-01T00:00:00Z') });
  assert.equal(parseUsageMonth('2028-02').end - parseUsageMonth('2028-02').start, 29 * 86_400_000, 'a leap February');
  for (const bad of ['2026-13', '2026-00', 'abc', '2026-1', '2026-12-01', '', '1969-12']) assert.deepEqual(fields(() => parseUsageMonth(bad)), ['month'], bad);
  assert.deepEqual(fields(() => parseUsageMonth('x', 'query.month')), ['query.month']);
  assert.equal(usageMonthOf(Date.parse('2026-11-30T23:59:59.999Z')), '2026-11');
});

test('amounts: the spec\'s placement demand plus attached volumes; a spec without them holds nothing', () => {
  const spec = { demand: { vcpus: 2, memoryMiB: 256, diskMiB: 64, cpuModel: 'qemu64' }, agent: { volumes: [{ id: 'v1', slot: 0, sizeMiB: 10 }, { id: 'v2', slot: 1, sizeMiB: 5 }] } };
  assert.deepEqual(usageAmountsOf(spec), { vcpus: 2, memoryMib: 256, diskMib: 79 });
  assert.deepEqual(usageAmountsOf({}), { vcpus: 0, memoryMib: 0, diskMib: 0 });
  assert.deepEqual(usageAmountsOf(null), { vcpus: 0, memoryMib: 0, diskMib: 0 });
  assert.deepEqual(usageAmountsOf({ demand: { vcpus: -1, memoryMiB: 'x', diskMiB: 1.5 } }), { vcpus: 0, memoryMib: 0, diskMib: 0 });
});

test('charges: running states cost compute and disk, resting ones disk, pending and terminated nothing', () => {
  assert.deepEqual(Object.keys(USAGE_CHARGES).sort(), [...VM_STATES].sort(), 'every state has a rule');
  assert.equal(USAGE_CHARGES.running, 'compute');
  assert.equal(USAGE_CHARGES.boot, 'compute');
  assert.equal(USAGE_CHARGES.migrating, 'compute');
  for (const s of ['poweroff', 'suspended', 'stopped', 'failed'] as const) assert.equal(USAGE_CHARGES[s], 'disk', s);
  assert.equal(USAGE_CHARGES.pending, 'none');
  assert.equal(USAGE_CHARGES.terminated, 'none');
});
