import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2Params } from './ec2-params.js';
import { ec2Refusal } from './ec2-test-kit.js';

describe('Ec2Params', () => {
  it('reads the form body and the query string together, lists in index order', () => {
    const p = Ec2Params.parse('Action=DescribeInstances&Version=2016-11-15', 'InstanceId.2=i-b&InstanceId.1=i-a&InstanceId.10=i-c');
    assert.equal(p.required('Action'), 'DescribeInstances');
    assert.deepEqual(p.list('InstanceId'), ['i-a', 'i-b', 'i-c']);
    assert.deepEqual(p.list('Nothing'), []);
  });

  it('reads filters with several values and tags with and without values', () => {
    const p = Ec2Params.parse('Filter.1.Name=instance-state-name&Filter.1.Value.1=running&Filter.1.Value.2=pending&Filter.2.Name=tag%3Arole&Filter.2.Value.1=web&Tag.1.Key=a&Tag.1.Value=1&Tag.2.Key=b');
    assert.deepEqual(p.filters(), [{ name: 'instance-state-name', values: ['running', 'pending'] }, { name: 'tag:role', values: ['web'] }]);
    assert.deepEqual(p.tags(), [{ key: 'a', value: '1' }, { key: 'b', value: '' }]);
  });

  it('reads TagSpecifications', () => {
    const p = Ec2Params.parse('TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web');
    assert.deepEqual(p.tagSpecifications(), [{ resourceType: 'instance', tags: [{ key: 'Name', value: 'web' }] }]);
  });

  it('names the parameter of every refusal', () => {
    assert.match(ec2Refusal(() => Ec2Params.of({}).required('ImageId')), /^MissingParameter: .*ImageId/);
    assert.match(ec2Refusal(() => Ec2Params.of({ MinCount: 'x' }).int('MinCount', { min: 1, max: 20 })), /^InvalidParameterValue: .*MinCount.*not an integer/);
    assert.match(ec2Refusal(() => Ec2Params.of({ MinCount: '21' }).int('MinCount', { min: 1, max: 20 })), /^InvalidParameterValue: .*MinCount.*outside 1\.\.20/);
    assert.match(ec2Refusal(() => Ec2Params.of({ Force: 'yes' }).bool('Force')), /^InvalidParameterValue: .*Force/);
    assert.match(ec2Refusal(() => Ec2Params.parse('InstanceId.0=i-a').list('InstanceId')), /^InvalidParameterValue: .*InstanceId\.0/);
    assert.match(ec2Refusal(() => Ec2Params.parse('Filter.1.Value.1=x').filters()), /^MissingParameter: .*Filter\.1\.Name/);
  });

  it('refuses a repeated parameter, an oversized value and too many parameters (malformed input)', () => {
    assert.match(ec2Refusal(() => Ec2Params.parse('Action=A&Action=B')), /^MalformedQueryString: .*Action.*twice/);
    assert.match(ec2Refusal(() => Ec2Params.parse(`UserData=${'A'.repeat(100 * 1024)}`)), /^InvalidParameterValue: .*UserData/);
    assert.match(ec2Refusal(() => Ec2Params.parse(Array.from({ length: 2001 }, (_, i) => `P${i}=1`).join('&'))), /^MalformedQueryString: more than 2000/);
  });
});
