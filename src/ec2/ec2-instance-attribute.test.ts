import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2ApiError } from './ec2-api-error.js';
import { modifiedAttribute } from './ec2-instance-attribute.js';
import { Ec2Params } from './ec2-params.js';

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Ec2ApiError, String(err));
    return `${err.awsCode}: ${err.message}`;
  }
  assert.fail('no error');
};

describe('modifiedAttribute', () => {
  it('reads both of EC2\'s forms', () => {
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ 'InstanceType.Value': 'nubo.small' })), { attribute: 'instanceType', value: 'nubo.small' });
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ Attribute: 'instanceType', Value: 'nubo.small' })), { attribute: 'instanceType', value: 'nubo.small' });
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ 'DisableApiTermination.Value': 'true' })), { attribute: 'disableApiTermination', value: 'true' });
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ 'GroupId.1': 'sg-1' })), { attribute: 'groupSet', value: undefined });
  });

  it('refuses none or several attributes', () => {
    assert.match(refusal(() => modifiedAttribute(Ec2Params.of({}))), /^MissingParameter: .*Attribute/);
    assert.match(refusal(() => modifiedAttribute(Ec2Params.of({ 'InstanceType.Value': 'a.b', 'UserData.Value': 'x' }))), /^InvalidParameterCombination: .*instanceType, userData/);
  });
});
