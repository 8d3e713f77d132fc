import type { Ec2Params } from './ec2-params.js';
import { Ec2ApiError, invalidParameterValue, missingParameter } from './ec2-api-error.js';
import type { Ec2Handler } from './ec2-context.js';
import { resolveInstances } from './ec2-instances.js';
import { instanceTypeOf } from './ec2-instance-types.js';

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
 * refused before anything changes. nubo's native API has no way yet to
 * change a VM's vCPUs and memory, so a valid change of a stopped instance is
 * answered `Unsupported` rather than faked in the EC2 records.
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
  if (vm.state !== 'poweroff' && vm.state !== 'stopped') {
    throw new Ec2ApiError('IncorrectInstanceState', `The instance '${id}' is not in the 'stopped' state (nubo state ${vm.state}); stop it to change its type`);
  }
  if (vm.vcpus === type.vcpus && vm.memoryMiB === type.memoryMiB) return { return: true };
  throw new Ec2ApiError('Unsupported', `nubo cannot change a VM's size yet (${vm.vcpus} vCPU, ${vm.memoryMiB} MiB → ${type.name}: ${type.vcpus} vCPU, ${type.memoryMiB} MiB): its native API has no resize`);
};

/** DescribeInstanceAttribute: the instance type (as DescribeInstances shows it); other attributes are refused, naming them. */
export const describeInstanceAttribute: Ec2Handler = async (ctx, call) => {
  const id = call.params.required('InstanceId');
  const attribute = call.params.required('Attribute');
  if (attribute !== 'instanceType') throw invalidParameterValue('Attribute', `nubo describes only instanceType, not ${JSON.stringify(attribute)}`);
  const [vm] = await resolveInstances(ctx, call, [id]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  const rec = (await ctx.records.instances([vm.id])).get(vm.id);
  return { instanceId: id, instanceType: { value: rec?.instanceType ?? instanceTypeOf(ctx.instanceTypes, vm.vcpus, vm.memoryMiB) } };
};
