import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryShortMessage, memoryShortOf, MIN_VM_MEMORY_MIB, TINY_IMAGE_MIN_MEMORY_MIB } from './memory-minimum.js';

test('the image whose minimum the memory is below, the largest of them; none when it is enough', () => {
  const images = [{ name: 'disk', minMemoryMiB: 64 }, { name: 'kernel', minMemoryMiB: 96 }, { name: 'initrd', minMemoryMiB: 80 }];
  assert.deepEqual(memoryShortOf(70, images), { name: 'kernel', minMemoryMiB: 96 });
  assert.deepEqual(memoryShortOf(95, images), { name: 'kernel', minMemoryMiB: 96 });
  assert.equal(memoryShortOf(96, images), undefined, 'the minimum itself is enough');
  assert.equal(memoryShortOf(128, images), undefined);
  assert.equal(memoryShortOf(16, []), undefined);
  assert.equal(memoryShortMessage(64, { name: 'nubo-tiny-kernel', minMemoryMiB: 96 }), '64 MiB is below the 96 MiB that image nubo-tiny-kernel needs to boot (its minimum memory)');
});

test('the tiny guest\'s minimum is above the floor and below the sizes the suites boot it with (128-256 MiB)', () => {
  assert.ok(TINY_IMAGE_MIN_MEMORY_MIB > MIN_VM_MEMORY_MIB);
  assert.ok(TINY_IMAGE_MIN_MEMORY_MIB <= 128);
});
