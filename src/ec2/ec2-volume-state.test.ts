import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ec2Refusal } from './ec2-test-kit.js';
import { checkDevice, checkVolumeType, deviceOfSlot, gibOf, volumeStatusOf } from './ec2-volume-state.js';

describe('EC2 volume states and names', () => {
  it('maps nubo volume states to EC2 statuses', () => {
    assert.equal(volumeStatusOf('available'), 'available');
    assert.equal(volumeStatusOf('attached'), 'in-use');
  });

  it('names slots /dev/sdf on, in order', () => {
    assert.deepEqual([0, 1, 7].map(deviceOfSlot), ['/dev/sdf', '/dev/sdg', '/dev/sdm']);
  });

  it('accepts Linux data-disk names and refuses the root device and anything else, naming Device', () => {
    for (const ok of ['/dev/sdf', '/dev/xvdf', '/dev/vdb', '/dev/sdba']) checkDevice(ok);
    assert.match(ec2Refusal(() => checkDevice('/dev/sda')), /^InvalidParameterValue: .*Device.*root device/);
    assert.match(ec2Refusal(() => checkDevice('/dev/xvda')), /root device/);
    for (const bad of ['sdf', '/dev/sdf1', '/dev/../etc/passwd', '/dev/nvme1n1', '']) assert.match(ec2Refusal(() => checkDevice(bad)), /^InvalidParameterValue: .*Device/);
  });

  it('accepts every EC2 volume type and refuses others, naming VolumeType', () => {
    for (const t of [undefined, 'standard', 'gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1']) checkVolumeType(t);
    assert.match(ec2Refusal(() => checkVolumeType('fast')), /^InvalidParameterValue: .*VolumeType.*"fast"/);
  });

  it('rounds sizes up to whole GiB, at least 1', () => {
    assert.deepEqual([16, 1024, 1025, 2048].map(gibOf), [1, 1, 2, 2]);
  });
});
