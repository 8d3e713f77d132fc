import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkFilters, pageOf, passesFilters } from './ec2-filters.js';
import type { Ec2ApiError } from './ec2-api-error.js';

const item = { fields: { 'instance-state-name': ['running'], 'instance.group-id': ['sg-1', 'sg-2'] }, tags: new Map([['role', 'web-1'], ['env', 'prod']]) };

describe('EC2 filters', () => {
  it('every filter must match; any value of a filter may; wildcards * and ?', () => {
    assert.equal(passesFilters([{ name: 'instance-state-name', values: ['stopped', 'running'] }], item), true);
    assert.equal(passesFilters([{ name: 'instance-state-name', values: ['stopped'] }], item), false);
    assert.equal(passesFilters([{ name: 'tag:role', values: ['web-*'] }, { name: 'instance.group-id', values: ['sg-2'] }], item), true);
    assert.equal(passesFilters([{ name: 'tag:role', values: ['web-?'] }, { name: 'tag:env', values: ['dev'] }], item), false);
    assert.equal(passesFilters([{ name: 'tag:missing', values: ['*'] }], item), false);
    assert.equal(passesFilters([{ name: 'tag-key', values: ['env'] }], item), true);
    assert.equal(passesFilters([{ name: 'tag:role', values: ['web.1'] }], item), false, 'a dot is a dot, not a regex');
  });

  it('an unknown filter name or a filter without a value is refused, naming it', () => {
    assert.throws(() => checkFilters([{ name: 'instance-stat-name', values: ['x'] }], ['instance-state-name']), (e: Ec2ApiError) => e.awsCode === 'InvalidParameterValue' && /Filter\.1\.Name/.test(e.message));
    assert.throws(() => checkFilters([{ name: 'tag:a', values: [] }], []), (e: Ec2ApiError) => /Filter\.1\.Value/.test(e.message));
    checkFilters([{ name: 'tag:a', values: ['b'] }, { name: 'instance-state-name', values: ['running'] }], ['instance-state-name']);
  });

  it('pages by key with opaque tokens, and refuses a token it did not give out', () => {
    const ids = ['i-05', 'i-01', 'i-03', 'i-02', 'i-04'];
    const p1 = pageOf(ids, (x) => x, 2, undefined);
    assert.deepEqual(p1.page, ['i-01', 'i-02']);
    const p2 = pageOf(ids, (x) => x, 2, p1.nextToken);
    assert.deepEqual(p2.page, ['i-03', 'i-04']);
    const p3 = pageOf(ids, (x) => x, 2, p2.nextToken);
    assert.deepEqual(p3, { page: ['i-05'], nextToken: undefined });
    assert.deepEqual(pageOf(ids, (x) => x, undefined, undefined).page.length, 5);
    assert.throws(() => pageOf(ids, (x) => x, 2, 'garbage!'), (e: Ec2ApiError) => e.awsCode === 'InvalidNextToken');
  });
});
