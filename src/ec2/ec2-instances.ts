import type { VmDetailView, VmView } from '../contract/vm-schemas.js';
import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { checkFilters, pageOf, passesFilters } from './ec2-filters.js';
import { isEc2Id } from './ec2-ids.js';
import { describeVms, INSTANCE_FILTERS, reservationsOf } from './ec2-instance-view.js';
import { ec2StateOf } from './ec2-instance-state.js';
import { TRANSITIONAL_STATES } from '../core/vm-state.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { pollUntil } from '../util/deadline.js';

/**
 * The VMs named by `InstanceId.N`, all checked before anything is done: a
 * malformed id, one never given out, or one the caller may not see (the native
 * API's 404 — another user's instance looks exactly like a missing one).
 */
export async function resolveInstances(ctx: Ec2Context, call: Ec2Call, ids: readonly string[]): Promise<VmDetailView[]> {
  const out: VmDetailView[] = [];
  for (const id of ids) {
    if (!isEc2Id('instance', id)) throw new Ec2ApiError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
    const vmId = await ctx.records.nuboIdOf('instance', id);
    if (vmId === undefined) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    out.push(await nativeCall<VmDetailView>(ctx, call, 'GET', `/api/v1/vms/${vmId}`, undefined, { notFound: 'InvalidInstanceID.NotFound' }).catch((err: unknown) => {
      throw err instanceof Ec2ApiError && err.awsCode === 'InvalidInstanceID.NotFound' ? new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`) : err;
    }));
  }
  return out;
}

function maxResults(call: Ec2Call, min: number): number | undefined {
  return call.params.int('MaxResults', { min, max: 1000 });
}

/** DescribeInstances: the caller's instances, filtered, paged by instance id. */
export const describeInstances: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('InstanceId');
  const max = maxResults(call, 5);
  if (ids.length > 0 && max !== undefined) throw new Ec2ApiError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
  const filters = call.params.filters();
  checkFilters(filters, INSTANCE_FILTERS);
  const vms = ids.length > 0 ? await resolveInstances(ctx, call, ids) : await nativeCall<VmView[]>(ctx, call, 'GET', '/api/v1/vms', undefined);
  const instances = (await describeVms(ctx, call, vms)).filter((i) => passesFilters(filters, i.filterable));
  const { page, nextToken } = pageOf(instances, (i) => i.instanceId, max, call.params.optional('NextToken'));
  return { reservationSet: reservationsOf(page, call.userId), nextToken };
};

/** DescribeInstanceStatus: running instances only unless IncludeAllInstances; the checks are nubo's state (no separate system checks). */
export const describeInstanceStatus: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('InstanceId');
  const all = call.params.bool('IncludeAllInstances') ?? false;
  const filters = call.params.filters();
  checkFilters(filters, ['instance-state-name', 'instance-state-code', 'availability-zone', 'instance-id']);
  const vms = ids.length > 0 ? await resolveInstances(ctx, call, ids) : await nativeCall<VmView[]>(ctx, call, 'GET', '/api/v1/vms', undefined);
  const instances = (await describeVms(ctx, call, vms)).filter((i) => (all || i.vm.state === 'running') && passesFilters(filters, i.filterable));
  const { page, nextToken } = pageOf(instances, (i) => i.instanceId, maxResults(call, 5), call.params.optional('NextToken'));
  return {
    instanceStatusSet: page.map((i) => {
      const s = ec2StateOf(i.vm.state);
      const ok = i.vm.state === 'running' ? 'ok' : 'not-applicable';
      return {
        instanceId: i.instanceId, availabilityZone: i.filterable.fields['availability-zone']?.[0], instanceState: { code: s.code, name: s.name },
        systemStatus: { status: ok, details: [{ name: 'reachability', status: ok === 'ok' ? 'passed' : 'not-applicable' }] },
        instanceStatus: { status: ok, details: [{ name: 'reachability', status: ok === 'ok' ? 'passed' : 'not-applicable' }] },
      };
    }),
    nextToken,
  };
};

type Verb = 'start' | 'stop' | 'reboot' | 'terminate';

/** The native action for an EC2 verb on a VM in this state; undefined when EC2 treats it as done already. */
function nativeAction(verb: Verb, vm: VmView, force: boolean): string | undefined {
  switch (verb) {
    case 'start':
      if (vm.state === 'running' || vm.state === 'pending' || vm.state === 'prolog' || vm.state === 'boot') return undefined;
      return vm.state === 'suspended' || vm.state === 'stopped' ? 'resume' : 'start';
    case 'stop':
      if (vm.state === 'poweroff' || vm.state === 'stopped' || vm.state === 'suspended') return undefined;
      return force ? 'poweroff-hard' : 'poweroff';
    case 'reboot': return 'reboot';
    case 'terminate': return vm.state === 'terminated' ? undefined : 'terminate';
  }
}

/**
 * Start/Stop/TerminateInstances: the states are checked for every instance
 * before any action starts (EC2 refuses the whole call with
 * IncorrectInstanceState), then each native action runs.
 */
function stateChange(verb: Exclude<Verb, 'reboot'>): Ec2Handler {
  return async (ctx, call) => {
    const ids = call.params.list('InstanceId');
    if (ids.length === 0) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter InstanceId');
    const vms = await resolveInstances(ctx, call, ids);
    const force = call.params.bool('Force') ?? false;
    // EC2 terminates a pending instance; nubo refuses an action while a step (prolog, boot, a save…) runs, so the
    // call waits for that step to end, as EC2's own shutting-down follows whatever the instance was doing.
    const settled = verb === 'terminate' ? await Promise.all(vms.map((vm) => betweenSteps(ctx, call, vm))) : vms;
    const plans = settled.map((vm) => ({ vm, action: nativeAction(verb, vm, force) }));
    for (const [i, p] of plans.entries()) {
      if (p.action !== undefined && !p.vm.allowedActions.includes(p.action)) {
        throw new Ec2ApiError('IncorrectInstanceState', `The instance '${ids[i] ?? ''}' is not in a state from which it can be ${verb === 'stop' ? 'stopped' : verb === 'start' ? 'started' : 'terminated'} (nubo state ${p.vm.state})`);
      }
    }
    const out = [];
    for (const [i, p] of plans.entries()) {
      const after = p.action === undefined ? p.vm : await nativeCall<VmView>(ctx, call, 'POST', `/api/v1/vms/${p.vm.id}/actions/${p.action}`, {}, { notFound: 'InvalidInstanceID.NotFound' });
      const before = ec2StateOf(p.vm.state);
      const now = ec2StateOf(after.state, verb === 'terminate');
      out.push({ instanceId: ids[i], currentState: { code: now.code, name: now.name }, previousState: { code: before.code, name: before.name } });
    }
    return { instancesSet: out };
  };
}

/** How long TerminateInstances waits for an instance's running step (its prolog and boot, a save, a migration) to end. */
export const TERMINATE_WAIT_MS = 30_000;

/** The VM once no step of it runs (as it is now if none does); as last seen when TERMINATE_WAIT_MS passes first. */
async function betweenSteps(ctx: Ec2Context, call: Ec2Call, vm: VmView): Promise<VmView> {
  let last = vm;
  if (!TRANSITIONAL_STATES.includes(vm.state)) return vm;
  return pollUntil(`instance ${vm.id} between steps`, async () => {
    last = await nativeCall<VmView>(ctx, call, 'GET', `/api/v1/vms/${vm.id}`, undefined, { notFound: 'InvalidInstanceID.NotFound' });
    return TRANSITIONAL_STATES.includes(last.state) ? undefined : last;
  }, { timeoutMs: TERMINATE_WAIT_MS, intervalMs: 50 }).catch((err: unknown) => {
    if (err instanceof TimeoutError) return last;
    throw err;
  });
}

export const startInstances = stateChange('start');
export const stopInstances = stateChange('stop');
export const terminateInstances = stateChange('terminate');

/** RebootInstances: nubo's reboot (ACPI, then a reset after the grace). */
export const rebootInstances: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('InstanceId');
  if (ids.length === 0) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter InstanceId');
  const vms = await resolveInstances(ctx, call, ids);
  for (const [i, vm] of vms.entries()) {
    if (!vm.allowedActions.includes('reboot')) throw new Ec2ApiError('IncorrectInstanceState', `The instance '${ids[i] ?? ''}' is not running (nubo state ${vm.state})`);
  }
  for (const vm of vms) await nativeCall(ctx, call, 'POST', `/api/v1/vms/${vm.id}/actions/reboot`, {}, { notFound: 'InvalidInstanceID.NotFound' });
  return { return: true };
};

/** GetConsoleOutput: the serial console's log, base64 as EC2 sends it. */
export const getConsoleOutput: Ec2Handler = async (ctx, call) => {
  const id = call.params.required('InstanceId');
  const [vm] = await resolveInstances(ctx, call, [id]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  const text = await nativeCall<string | undefined>(ctx, call, 'GET', `/api/v1/vms/${vm.id}/console`, undefined, { notFound: 'InvalidInstanceID.NotFound' });
  // EC2 keeps the last 64 KiB; `Latest` asks for the most recent output, which here is that same tail.
  call.params.bool('Latest');
  const tail = Buffer.from(text ?? '', 'utf8').subarray(-64 * 1024);
  return { instanceId: id, timestamp: new Date().toISOString(), output: tail.toString('base64') };
};

/** Eucalyptus' MigrateInstances (admin): nubo's migration of the instance, to `DestinationHost.1` or where placement chooses. */
export const migrateInstances: Ec2Handler = async (ctx, call) => {
  const me = await nativeCall<{ role: string }>(ctx, call, 'GET', '/api/v1/users/me', undefined);
  if (me.role !== 'admin') throw new Ec2ApiError('UnauthorizedOperation', 'MigrateInstances is an administrator\'s action', 403);
  const id = call.params.required('InstanceId');
  const destinations = call.params.list('DestinationHost');
  if (destinations.length > 1) throw invalidParameterValue('DestinationHost', 'name at most one host');
  const [vm] = await resolveInstances(ctx, call, [id]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  const to = destinations[0];
  await nativeCall(ctx, call, 'POST', `/api/v1/vms/${vm.id}/migrate`, to === undefined ? {} : { to }, { notFound: 'InvalidParameterValue', fields: { to: 'DestinationHost.1' } });
  return { return: true };
};
