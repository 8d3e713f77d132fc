import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSnapshotInfos } from './disk-snapshot.js';

test('QEMU SnapshotInfo lists (QMP and qemu-img JSON) become DiskSnapshots in file order', () => {
  // As QEMU 7.2 answers, from `qemu-img info --output=json` and query-named-block-nodes.
  const raw = [
    { icount: 0, 'vm-clock-nsec': 0, name: 'x', 'date-sec': 1795642381, 'date-nsec': 849414000, 'vm-clock-sec': 0, id: '1', 'vm-state-size': 0 },
    { 'vm-clock-nsec': 5e8, name: '1', 'date-sec': 1700000000, 'date-nsec': 0, 'vm-clock-sec': 42, id: '2', 'vm-state-size': 0 },
  ];
  assert.deepEqual(parseSnapshotInfos(raw), [
    { name: 'x', id: '1', createdAt: new Date(1795642381849).toISOString(), vmClockSec: 0 },
    { name: '1', id: '2', createdAt: '2023-11-14T22:13:20.000Z', vmClockSec: 42 },
  ]);
  assert.deepEqual(parseSnapshotInfos(undefined), []);
  assert.throws(() => parseSnapshotInfos({}), TypeError);
  assert.throws(() => parseSnapshotInfos([{ id: '1' }]), TypeError);
});
