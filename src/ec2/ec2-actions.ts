import type { Ec2Handler } from './ec2-context.js';
import { describeAccountAttributes, describeAvailabilityZones, describeInstanceTypes, describeRegions } from './ec2-describe-static.js';
import { createImage, deregisterImage, describeImageAttribute, describeImages } from './ec2-images.js';
import { describeInstanceStatus, describeInstances, getConsoleOutput, migrateInstances, rebootInstances, startInstances, stopInstances, terminateInstances } from './ec2-instances.js';
import { createKeyPair, deleteKeyPair, describeKeyPairs, importKeyPair } from './ec2-key-pairs.js';
import { runInstances } from './ec2-run-instances.js';
import { registerImage } from './ec2-register-image.js';
import { describeExportImageTasks, exportImage } from './ec2-export-image.js';
import { authorizeSecurityGroupIngress, createSecurityGroup, deleteSecurityGroup, describeSecurityGroups, revokeSecurityGroupIngress, type SecurityGroupsChanged } from './ec2-security-groups.js';
import { createTags, deleteTags, describeTags } from './ec2-tags.js';
import { attachVolume, createVolume, deleteVolume, describeVolumes, detachVolume } from './ec2-volumes.js';
import { createSnapshot, deleteSnapshot, describeSnapshots } from './ec2-snapshots.js';
import { describeInstanceAttribute, modifyInstanceAttribute } from './ec2-instance-attribute.js';

/** Every action the Query API serves, by its `Action` name. */
export function ec2Actions(changed: SecurityGroupsChanged): ReadonlyMap<string, Ec2Handler> {
  return new Map<string, Ec2Handler>([
    ['DescribeRegions', describeRegions],
    ['DescribeAvailabilityZones', describeAvailabilityZones],
    ['DescribeAccountAttributes', describeAccountAttributes],
    ['DescribeInstanceTypes', describeInstanceTypes],
    ['DescribeImages', describeImages],
    ['DeregisterImage', deregisterImage],
    ['DescribeImageAttribute', describeImageAttribute],
    ['CreateImage', createImage],
    ['RegisterImage', registerImage],
    ['ExportImage', exportImage],
    ['DescribeExportImageTasks', describeExportImageTasks],
    ['CreateKeyPair', createKeyPair],
    ['ImportKeyPair', importKeyPair],
    ['DescribeKeyPairs', describeKeyPairs],
    ['DeleteKeyPair', deleteKeyPair],
    ['RunInstances', runInstances(changed)],
    ['DescribeInstances', describeInstances],
    ['DescribeInstanceStatus', describeInstanceStatus],
    ['StartInstances', startInstances],
    ['StopInstances', stopInstances],
    ['RebootInstances', rebootInstances],
    ['TerminateInstances', terminateInstances],
    ['GetConsoleOutput', getConsoleOutput],
    ['MigrateInstances', migrateInstances],
    ['CreateTags', createTags],
    ['DescribeTags', describeTags],
    ['DeleteTags', deleteTags],
    ['CreateSecurityGroup', createSecurityGroup],
    ['DeleteSecurityGroup', deleteSecurityGroup(changed)],
    ['DescribeSecurityGroups', describeSecurityGroups],
    ['AuthorizeSecurityGroupIngress', authorizeSecurityGroupIngress(changed)],
    ['RevokeSecurityGroupIngress', revokeSecurityGroupIngress(changed)],
    ['CreateVolume', createVolume],
    ['DescribeVolumes', describeVolumes],
    ['DeleteVolume', deleteVolume],
    ['AttachVolume', attachVolume],
    ['DetachVolume', detachVolume],
    ['CreateSnapshot', createSnapshot],
    ['DescribeSnapshots', describeSnapshots],
    ['DeleteSnapshot', deleteSnapshot],
    ['ModifyInstanceAttribute', modifyInstanceAttribute],
    ['DescribeInstanceAttribute', describeInstanceAttribute],
  ]);
}
