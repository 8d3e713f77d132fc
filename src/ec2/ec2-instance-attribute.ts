import type { Ec2Params } from './ec2-params.js';
import { Ec2ApiError, invalidParameterValue, missingParameter } from './ec2-api-error.js';
import { nativeCall, type Ec2Handler } from './ec2-context.js';
import { resolveInstances } from './ec2-instances.js';
import { shownInstanceType } from './ec2-instance-types.js';

/**
 * The attributes ModifyInstanceAttribute takes, in both of EC2's forms
 * (`Attribute=x&Value=…` or `X.Value=…`). Only the instance type means
 * something in nubo; every other one is refused, naming it.
 */
const ATTRIBUTE_PARAMS: Readonly<Record<string, string>> = {
  InstanceType: 'instanceType', Kernel: 'kernel', Ramdisk: 'ramdisk', UserData: 'userData', DisableApiTermination: 'disableApiTermination',
  DisableApiStop: 'disableApiStop', InstanceInitiatedShutdownBehavior: 'instanceInitiatedShutdownBehavior', SourceDestCheck: 'sourceDestCheck',
  EbsOptimized: 'ebsOptimized', SriovNetSupport: 'sriovNetSupport', EnaSupport: 'enaSupport', GroupId: 'groupSet', BlockDeviceMapping: 'blockDeviceMapping',
};

/** The one attribute a ModifyInstanceAttribute request changes and its value; more than one, or none, is refused. */
export function modifiedAttribute(params: Ec2Params): { attribute: string; value: string | undefined } {
  const found: { attribute: string; value: string | undefined }[] = [];
  const attribute = params.optional('Attribute');
  if (attribute !== undefined) found.push({ attribute, value: params.optional('Value') });
  for (const [param, name] of Object.entries(ATTRIBUTE_PARAMS)) {
    if (params.optional(`${param}.Value`) !== undefined || params.hasPrefix(`${param}.`)) found.push({ attribute: name, value: params.optional(`${param}.Value`) });
  }
  if (found.length === 0) throw missingParameter('Attribute');
  if (found.length > 1) throw new Ec2ApiError('InvalidParameterCombination', `Only one attribute can be modified at a time; this request names ${found.map((f) => f.attribute).join(', ')}`);
  return found[0]!;
}

/**
 * ModifyInstanceAttribute: the instance type of a stopped instance. Checked
 * in EC2's order — the attribute, the type, the instance's state — and
 * refused before anything changes. The size changes through the native API's
 * resize (quota and host room checked in one transaction; the instance boots
 * with it on its next start), then the EC2 record takes the type's name. A
 * controller that dies between the two leaves the VM resized and the record
 * naming the old type: DescribeInstances shows a record's type only while it
 * matches the VM's size (ec2-instance-view.ts), so the answer is never stale.
 * Only nubo's `poweroff` is resized: an EC2-stopped instance that nubo holds
 * suspended or stopped has its memory saved at its old size
 * (IncorrectInstanceState, saying so).
 */
export const modifyInstanceAttribute: Ec2Handler = async (ctx, call) => {
  const id = call.params.required('InstanceId');
  const { attribute, value } = modifiedAttribute(call.params);
  if (attribute !== 'instanceType') throw invalidParameterValue(attribute, `nubo can change only instanceType of an instance, not ${attribute}`);
  if (value === undefined || value === '') throw missingParameter('InstanceType.Value');
  const type = ctx.instanceTypes.get(value);
  if (type === undefined) throw invalidParameterValue('InstanceType', `${JSON.stringify(value)} is not one of ${[...ctx.instanceTypes.keys()].join(', ')}`);
  const [vm] = await resolveInstances(ctx, call, [id]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  if (vm.state === 'suspended' || vm.state === 'stopped') {
    throw new Ec2ApiError('IncorrectInstanceState', `The instance '${id}' is stopped with its memory saved (nubo state ${vm.state}), which keeps its size; start it and stop it again to change its type`);
  }
  if (vm.state !== 'poweroff') {
    throw new Ec2ApiError('IncorrectInstanceState', `The instance '${id}' is not in the 'stopped' state (nubo state ${vm.state}); stop it to change its type`);
  }
  await nativeCall(ctx, call, 'POST', `/api/v1/vms/${vm.id}/resize`, { vcpus: type.vcpus, memoryMiB: type.memoryMiB }, { quota: 'InstanceLimitExceeded', notFound: 'InvalidInstanceID.NotFound' });
  await ctx.records.setInstanceType(vm.id, type.name);
  return { return: true };
};

/** DescribeInstanceAttribute: the instance type (as DescribeInstances shows it); other attributes are refused, naming them. */
export const describeInstanceAttribute: Ec2Handler = async (ctx, call) => {
  const id = call.params.required('InstanceId');
  const attribute = call.params.required('Attribute');
  if (attribute !== 'instanceType') throw invalidParameterValue('Attribute', `nubo describes only instanceType, not ${JSON.stringify(attribute)}`);
  const [vm] = await resolveInstances(ctx, call, [id]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  const rec = (await ctx.records.instances([vm.id])).get(vm.id);
  return { instanceId: id, instanceType: { value: shownInstanceType(ctx.instanceTypes, rec?.instanceType, vm.vcpus, vm.memoryMiB) } };
};
