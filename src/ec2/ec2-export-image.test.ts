import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ec2Refusal } from './ec2-test-kit.js';
import { exportObjectKey, parseExportImage } from './ec2-export-image.js';
import { Ec2Params } from './ec2-params.js';

const base = { ImageId: 'ami-0123456789abcdef0', DiskImageFormat: 'RAW', 'S3ExportLocation.S3Bucket': 'exports' };

describe('parseExportImage', () => {
  it('reads EC2\'s parameters; QCOW2 is taken too, in any case', () => {
    assert.deepEqual(parseExportImage(Ec2Params.of({ ...base, 'S3ExportLocation.S3Prefix': 'vms/', ClientToken: 'vm-1/b2', Description: 'back' })),
      { amiId: 'ami-0123456789abcdef0', format: 'RAW', bucket: 'exports', prefix: 'vms/', description: 'back', clientToken: 'vm-1/b2' });
    assert.equal(parseExportImage(Ec2Params.of({ ...base, DiskImageFormat: 'qcow2' })).format, 'QCOW2');
    assert.equal(parseExportImage(Ec2Params.of(base)).prefix, '');
  });

  it('refuses what is missing or what it does not write, naming the parameter', () => {
    assert.match(ec2Refusal(() => parseExportImage(Ec2Params.of({ DiskImageFormat: 'RAW', 'S3ExportLocation.S3Bucket': 'exports' }))), /^MissingParameter: .*ImageId/);
    assert.match(ec2Refusal(() => parseExportImage(Ec2Params.of({ ImageId: base.ImageId, DiskImageFormat: 'RAW' }))), /^MissingParameter: .*S3ExportLocation\.S3Bucket/);
    for (const f of ['VMDK', 'VHD', 'vdi']) assert.match(ec2Refusal(() => parseExportImage(Ec2Params.of({ ...base, DiskImageFormat: f }))), /^InvalidParameterValue: .*DiskImageFormat.*RAW or QCOW2/);
    assert.match(ec2Refusal(() => parseExportImage(Ec2Params.of({ ...base, 'S3ExportLocation.S3Bucket': 'Not_A_Bucket' }))), /^InvalidParameterValue: .*S3Bucket/);
    assert.match(ec2Refusal(() => parseExportImage(Ec2Params.of({ ...base, 'S3ExportLocation.S3Prefix': 'p'.repeat(513) }))), /^InvalidParameterValue: .*S3Prefix/);
    assert.match(ec2Refusal(() => parseExportImage(Ec2Params.of({ ...base, ClientToken: 't'.repeat(65) }))), /^InvalidParameterValue: .*ClientToken/);
  });
});

describe('exportObjectKey', () => {
  it('is EC2\'s: the prefix, the task id, the format in lower case', () => {
    assert.equal(exportObjectKey({ prefix: 'nubo-back/', id: 'export-ami-0123456789abcdef0', format: 'QCOW2' }), 'nubo-back/export-ami-0123456789abcdef0.qcow2');
    assert.equal(exportObjectKey({ prefix: '', id: 'export-ami-1', format: 'RAW' }), 'export-ami-1.raw');
  });
});
