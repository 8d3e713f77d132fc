import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ec2Refusal } from './ec2-test-kit.js';
import { modifiedAttribute } from './ec2-instance-attribute.js';
import { Ec2Params } from './ec2-params.js';

describe('modifiedAttribute', () => {
  it('reads both of EC2\'s forms', () => {
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ 'InstanceType.Value': 'nubo.small' })), { attribute: 'instanceType', value: 'nubo.small' });
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ Attribute: 'instanceType', Value: 'nubo.small' })), { attribute: 'instanceType', value: 'nubo.small' });
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ 'DisableApiTermination.Value': 'true' })), { attribute: 'disableApiTermination', value: 'true' });
    assert.deepEqual(modifiedAttribute(Ec2Params.of({ 'GroupId.1': 'sg-1' })), { attribute: 'groupSet', value: undefined });
  });

  it('refuses none or several attributes', () => {
    assert.match(ec2Refusal(() => modifiedAttribute(Ec2Params.of({}))), /^MissingParameter: .*Attribute/);
    assert.match(ec2Refusal(() => modifiedAttribute(Ec2Params.of({ 'InstanceType.Value': 'a.b', 'UserData.Value': 'x' }))), /^InvalidParameterCombination: .*instanceType, userData/);
  });
});
