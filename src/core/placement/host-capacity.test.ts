import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { capacityShortfall, freeCapacity, release, reserve } from './host-capacity.js';
import { PlacementError } from './placement-error.js';
import { makeHost } from './host-view.fixture.js';

const small = { vcpus: 1, memoryMiB: 512, diskMiB: 1024 };

test('free capacity overcommits CPU only', () => {
  const h = makeHost('h1', { reservedCpus: 6, reservedMemoryMiB: 1024, reservedDiskMiB: 2048 });
  assert.deepEqual(freeCapacity(h), { cpus: -2, memoryMiB: 3072, diskMiB: 100352 });
  assert.deepEqual(freeCapacity(h, 2), { cpus: 2, memoryMiB: 3072, diskMiB: 100352 });
});

test('shortfall names the first resource short, with what is free', () => {
  const h = makeHost('h1', { reservedCpus: 3, reservedMemoryMiB: 3840, reservedDiskMiB: 101376 });
  assert.equal(capacityShortfall(h, { vcpus: 1, memoryMiB: 256, diskMiB: 1024 }), undefined, 'an exact fit fits');
  assert.equal(capacityShortfall(h, { ...small, vcpus: 2 }), 'needs 2 vCPUs, 1 free');
  assert.equal(capacityShortfall(h, small), 'needs 512 MiB memory, 256 free');
  assert.equal(capacityShortfall(h, { ...small, memoryMiB: 256, diskMiB: 2048 }), 'needs 2048 MiB disk, 1024 free');
  assert.equal(capacityShortfall(makeHost('h', { reservedCpus: 4 }), small), 'needs 1 vCPU, 0 free');
  // CPU is checked first when several are short.
  assert.equal(capacityShortfall(h, { vcpus: 8, memoryMiB: 8192, diskMiB: 1e9 }), 'needs 8 vCPUs, 1 free');
});

test('shortfall texts: fractional free CPUs, never a negative amount', () => {
  assert.equal(capacityShortfall(makeHost('h', { totalCpus: 3, reservedCpus: 4 }), { ...small, vcpus: 1 }, 1.5), 'needs 1 vCPU, 0.5 free');
  assert.equal(capacityShortfall(makeHost('h', { totalCpus: 3, reservedCpus: 3 }), { ...small, vcpus: 1 }, 1.1), 'needs 1 vCPU, 0.3 free');
  assert.equal(capacityShortfall(makeHost('h', { reservedCpus: 6 }), small), 'needs 1 vCPU, 0 free');
});

test('floating-point noise does not refuse a VM that fits', () => {
  // 100 × 0.57 is 56.99999999999999 in binary floating point.
  assert.equal(capacityShortfall(makeHost('h', { totalCpus: 100 }), { ...small, vcpus: 57 }, 0.57), undefined);
  assert.equal(capacityShortfall(makeHost('h', { totalCpus: 100 }), { ...small, vcpus: 58 }, 0.57), 'needs 58 vCPUs, 57 free');
});

test('reserve adds to the reservations and keeps the other fields', () => {
  const h = { ...makeHost('h1'), extra: 'kept' };
  const r = reserve(h, small);
  assert.equal(r.reservedCpus, 1);
  assert.equal(r.reservedMemoryMiB, 512);
  assert.equal(r.reservedDiskMiB, 1024);
  assert.equal(r.extra, 'kept');
  assert.equal(h.reservedCpus, 0, 'the input is not changed');
  // A host filled up exactly.
  const full = reserve(makeHost('h2', { totalCpus: 1, totalMemoryMiB: 512, totalDiskMiB: 1024 }), small);
  assert.deepEqual(freeCapacity(full), { cpus: 0, memoryMiB: 0, diskMiB: 0 });
});

test('reserve checks the fit again and says why not', () => {
  const h = makeHost('h1', { reservedMemoryMiB: 3840 });
  assert.throws(
    () => reserve(h, small),
    (err: unknown) => {
      assert.ok(err instanceof PlacementError);
      assert.equal(err.code, 'PLACEMENT_FAILED');
      assert.equal(err.message, 'host h1 cannot take the VM: needs 512 MiB memory, 256 free');
      assert.deepEqual(err.reasons, { h1: 'needs 512 MiB memory, 256 free' });
      return true;
    },
  );
  // Operators know hosts by name: the message names it when the host has one (reasons stay keyed by id).
  assert.throws(() => reserve({ ...h, name: 'rack-1' }, small), (err: unknown) => err instanceof PlacementError && err.message === 'host rack-1 cannot take the VM: needs 512 MiB memory, 256 free' && err.reasons['h1'] !== undefined);

  assert.equal(reserve(makeHost('h', { reservedCpus: 4 }), small, { cpuOvercommit: 2 }).reservedCpus, 5);
  assert.throws(() => reserve(makeHost('h', { reservedCpus: 4 }), small), PlacementError);
});

test('release subtracts and clamps at zero', () => {
  const h = makeHost('h1');
  assert.deepEqual(release(reserve(h, small), small), h);
  const twice = release(release(reserve(h, small), small), small);
  assert.equal(twice.reservedCpus, 0);
  assert.equal(twice.reservedMemoryMiB, 0);
  assert.equal(twice.reservedDiskMiB, 0);
});

test('a NaN or negative demand is refused before it poisons the counters', () => {
  for (const bad of [{ ...small, vcpus: Number.NaN }, { ...small, memoryMiB: -1 }, { ...small, diskMiB: Infinity }]) {
    assert.throws(() => reserve(makeHost('h'), bad), ValidationError);
    assert.throws(() => release(makeHost('h'), bad), ValidationError);
  }
  assert.throws(() => reserve(makeHost('h'), { vcpus: -1, memoryMiB: -1, diskMiB: 0 }), (err: unknown) => {
    assert.ok(err instanceof ValidationError);
    assert.deepEqual(err.issues.map((i) => i.field), ['vcpus', 'memoryMiB']);
    return true;
  });
});

test("a host's own CPU overcommit wins over the policy's default", () => {
  // Two cores and overcommit 4: eight 1-vCPU VMs, whatever the policy says.
  const laptop = makeHost('h', { totalCpus: 2, reservedCpus: 7, cpuOvercommit: 4 });
  assert.deepEqual(freeCapacity(laptop).cpus, 1);
  assert.deepEqual(freeCapacity(laptop, 2).cpus, 1);
  assert.equal(capacityShortfall(laptop, small), undefined);
  assert.equal(capacityShortfall({ ...laptop, reservedCpus: 8 }, small, 16), 'needs 1 vCPU, 0 free');
  assert.equal(reserve(laptop, small).reservedCpus, 8);
  assert.throws(() => reserve({ ...laptop, reservedCpus: 8 }, small, { cpuOvercommit: 16 }), PlacementError);
  // A host below 1 (a reserved core per VM and then some) is honoured too.
  assert.equal(capacityShortfall(makeHost('h', { totalCpus: 4, cpuOvercommit: 0.5 }), { ...small, vcpus: 3 }, 4), 'needs 3 vCPUs, 2 free');
});
