import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../bench/support/seeded-random.js';
import { SlotTable, type Booking } from './slot-table.js';

const shape = { cpus: 1, memoryMiB: 512 };

/** The same question answered by brute force over whole seconds, to check the change-point structure against. */
function bruteFree(bookings: readonly Booking[], cap: { cpus: number; memoryMiB: number }, host: number, from: number, to: number, ignorePre = false): number {
  let fit = Infinity;
  for (let t = from; t < to; t++) {
    let cpu = 0;
    let mem = 0;
    for (const b of bookings) {
      if (b.host !== host || b.from > t || b.to <= t || (ignorePre && b.preemptible)) continue;
      cpu += b.vms * b.shape.cpus;
      mem += b.vms * b.shape.memoryMiB;
    }
    fit = Math.min(fit, Math.floor((cap.cpus - cpu) / shape.cpus), Math.floor((cap.memoryMiB - mem) / shape.memoryMiB));
  }
  return Math.max(0, fit);
}

test('property: bookings made only where vmsFree says they fit never overcommit, and every answer matches brute force (seeded)', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = seededRandom(seed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const hosts = Array.from({ length: 1 + int(4) }, () => ({ cpus: 1 + int(4), memoryMiB: 512 * (1 + int(4)) }));
    const table = new SlotTable(hosts);
    const live: Booking[] = [];
    for (let op = 0; op < 120; op++) {
      const host = int(hosts.length);
      const from = int(200);
      const to = from + 1 + int(60);
      if (live.length > 0 && rnd() < 0.3) {
        const [b] = live.splice(int(live.length), 1);
        table.release(b!);
        continue;
      }
      const free = table.vmsFree(host, from, to, shape);
      assert.equal(free, bruteFree(live, hosts[host]!, host, from, to), `seed ${seed} op ${op}: vmsFree(${host}, ${from}, ${to})`);
      if (free === 0) continue;
      const b = { host, from, to, vms: 1 + int(free), shape, preemptible: rnd() < 0.5 };
      table.book(b);
      live.push(b);
    }
    for (let h = 0; h < hosts.length; h++) {
      for (let t = 0; t < 270; t++) {
        const u = table.usageAt(h, t);
        assert.ok(u.cpus <= hosts[h]!.cpus && u.memoryMiB <= hosts[h]!.memoryMiB, `seed ${seed}: host ${h} overcommitted at ${t}`);
      }
      const q = int(200);
      assert.equal(table.vmsFree(h, q, q + 30, shape, true), bruteFree(live, hosts[h]!, h, q, q + 30, true), `seed ${seed}: ignoring preemptible usage`);
      const need = 1;
      const e = table.earliestFit(h, q, 20, shape, need);
      if (e < Infinity) {
        assert.ok(bruteFree(live, hosts[h]!, h, e, e + 20) >= need, `seed ${seed}: earliestFit(${h}) = ${e} does not fit`);
        for (let t = q; t < e; t++) assert.ok(bruteFree(live, hosts[h]!, h, t, t + 20) < need, `seed ${seed}: earliestFit(${h}) = ${e} but ${t} fits`);
      }
    }
  }
});

test('releasing every booking leaves no change points behind (the structure stays small)', () => {
  const table = new SlotTable([{ cpus: 2, memoryMiB: 2048 }]);
  const bs = [0, 10, 5, 30].map((f) => ({ host: 0, from: f, to: f + 20, vms: 1, shape, preemptible: false }));
  for (const b of bs) table.book(b);
  assert.ok(table.changePoints(0).length > 0);
  for (const b of bs) table.release(b);
  assert.deepEqual(table.changePoints(0), []);
});

test('busyFrom: the first time the host cannot take the VMs; forgetBefore drops the past without changing the present', () => {
  const table = new SlotTable([{ cpus: 1, memoryMiB: 1024 }]);
  table.book({ host: 0, from: 0, to: 10, vms: 1, shape, preemptible: false });
  table.book({ host: 0, from: 50, to: 60, vms: 1, shape, preemptible: false });
  assert.equal(table.busyFrom(0, 20, shape, 1), 50);
  assert.equal(table.busyFrom(0, 5, shape, 1), 5);
  assert.equal(table.busyFrom(0, 61, shape, 1), Infinity);
  table.forgetBefore(55);
  assert.deepEqual(table.changePoints(0), [50, 60]);
  assert.equal(table.vmsFree(0, 55, 70, shape), 0);
  assert.equal(table.vmsFree(0, 60, 70, shape), 1);
  assert.throws(() => table.book({ host: 3, from: 0, to: 1, vms: 1, shape, preemptible: false }), /no host 3/);
});

test('freeForGood: from when a host has room after its last booking, and how much; surelyFreeBy: when enough hosts have it (an upper bound for any start search)', async () => {
  const { freeForGood, surelyFreeBy, earliestStart } = await import('./earliest-start.js');
  const table = new SlotTable([{ cpus: 2, memoryMiB: 1024 }, { cpus: 2, memoryMiB: 1024 }, { cpus: 2, memoryMiB: 1024 }]);
  table.book({ host: 0, from: 0, to: 100, vms: 2, shape, preemptible: false });
  table.book({ host: 1, from: 50, to: 300, vms: 1, shape, preemptible: true });
  table.book({ host: 2, from: 0, to: Infinity, vms: 2, shape, preemptible: false });
  const v = table.version;
  assert.deepEqual(table.freeForGood(0, shape), { from: 100, vms: 2 });
  // Host 1 has one VM's room from the start and two from 300: its last steps with the room it ends with begin at 300.
  assert.deepEqual(table.freeForGood(1, shape), { from: 300, vms: 2 });
  assert.deepEqual(table.freeForGood(2, shape), { from: Infinity, vms: 0 });
  const free = freeForGood(table, shape);
  assert.equal(surelyFreeBy(free, 0, 2), 100);
  assert.equal(surelyFreeBy(free, 120, 2), 120);
  assert.equal(surelyFreeBy(free, 0, 3), 300);
  assert.equal(surelyFreeBy(free, 0, 5), Infinity);
  // Never earlier than a full search finds, for any length.
  for (const len of [1, 60, 500]) for (const vms of [1, 2, 3, 4]) assert.ok(earliestStart(table, 0, len, shape, vms) <= surelyFreeBy(free, 0, vms));
  assert.equal(table.version, v, 'questions do not change the table');
  table.release({ host: 0, from: 0, to: 100, vms: 2, shape, preemptible: false });
  assert.ok(table.version > v, 'a release does');
  assert.deepEqual(table.freeForGood(0, shape), { from: -Infinity, vms: 2 });
});
