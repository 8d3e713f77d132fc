import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textTable } from './text-table.js';

test('columns are as wide as their widest cell and right-aligned, with a rule under the header', () => {
  assert.equal(textTable(['a', 'bb'], [['100', 'x'], ['2', '']]), ['  a  bb', '---  --', '100   x', '  2    '].join('\n'));
});

test('a table with no rows is its header and rule', () => {
  assert.equal(textTable(['name'], []), 'name\n----');
});
