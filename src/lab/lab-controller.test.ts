import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labControllerArgs } from './lab-controller.js';

test('the lab controller serves EC2 and S3 on the fabric address when given their ports', () => {
  const args = labControllerArgs(7480, '/lab/controller', 2000, { ec2Port: 7490, s3Port: 7491 });
  assert.deepEqual(args, [
    'controller', '--listen', '198.18.0.1:7480', '--data-dir', '/lab/controller', '--heartbeat-ms', '2000',
    '--ec2-listen', '198.18.0.1:7490', '--s3-listen', '198.18.0.1:7491',
  ]);
});

test('without their ports the lab controller has neither listener', () => {
  const args = labControllerArgs(7600, '/d', 500);
  assert.deepEqual(args, ['controller', '--listen', '198.18.0.1:7600', '--data-dir', '/d', '--heartbeat-ms', '500']);
  assert.ok(!args.includes('--ec2-listen') && !args.includes('--s3-listen'));
});
