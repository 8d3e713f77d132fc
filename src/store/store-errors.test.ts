import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError } from './store-errors.js';

test('ConflictError names the field, unless the field is the resource itself (save-as `image`, `template`)', () => {
  assert.equal(new ConflictError('image', 'name', 'web', 'already exists for this owner').message, 'image with name "web" already exists for this owner');
  const e = new ConflictError('template', 'template', 'web-golden', 'already exists for this owner');
  assert.equal(e.message, 'template "web-golden" already exists for this owner');
  assert.deepEqual(e.details, { resource: 'template', field: 'template', value: 'web-golden', reason: 'already exists for this owner' });
});
