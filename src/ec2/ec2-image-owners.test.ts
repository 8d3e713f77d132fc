import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ownerMatches } from './ec2-images.js';

describe('DescribeImages owners', () => {
  it('self matches the caller\'s own images, an owner by user id or name, amazon nothing', () => {
    assert.equal(ownerMatches('self', true, 'alice', 'u-1'), true);
    assert.equal(ownerMatches('self', false, 'admin', 'admin'), false);
    assert.equal(ownerMatches('u-1', true, 'alice', 'u-1'), true);
    assert.equal(ownerMatches('admin', false, 'admin', 'admin'), true);
    assert.equal(ownerMatches('amazon', false, 'amazon', 'amazon'), false, 'even a user named amazon is not Amazon');
    assert.equal(ownerMatches('aws-marketplace', false, 'admin', 'admin'), false);
  });
});
