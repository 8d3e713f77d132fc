import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocationUnitBytes } from './allocation-units.js';

test('allocation units: programmatic units and the names tools write', () => {
  const cases: readonly (readonly [string, number | undefined])[] = [
    ['byte', 1], ['bytes', 1], ['byte * 2^20', 2 ** 20], ['byte*2^30', 2 ** 30], ['  BYTE * 2 ^ 10 ', 1024], ['byte * 1024', 1024], ['byte * 10^6', 1e6],
    ['MegaBytes', 2 ** 20], ['MB', 2 ** 20], ['GigaBytes', 2 ** 30], ['GB', 2 ** 30], ['KiloBytes', 1024], ['TB', 2 ** 40],
    ['hertz * 10^6', undefined], ['', undefined], ['byte * 0', undefined], ['byte * 2^999', undefined], ['bits', undefined], ['byte * -1', undefined],
  ];
  for (const [text, bytes] of cases) assert.equal(allocationUnitBytes(text), bytes, JSON.stringify(text));
});
