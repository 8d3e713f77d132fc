import { createHash } from 'node:crypto';
import type { CreatedVmView, VmDetailView, VmView } from '../contract/vm-schemas.js';
import { RemoteError } from '../client/remote-error.js';
import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import { ec2ErrorOf, nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { clusterOfZone, zoneOfCluster } from './ec2-zones.js';
import type { ZoneView } from '../contract/cluster-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import type { KeyPairRecord, SecurityGroupRecord } from './ec2-records.js';
import { newEc2Id } from './ec2-ids.js';
import { amiNotFound, amiTemplateId, resolveImage } from './ec2-images.js';
import { describeVms, instanceOf } from './ec2-instance-view.js';
import type { XmlObject } from './ec2-xml.js';
import { ensureKeyInUserKeys } from './ec2-key-pairs.js';
import { groupsFirewall, resolveGroups, type SecurityGroupsChanged } from './ec2-security-groups.js';
import { sameRules } from '../contract/same-rules.js';
import { checkTags } from './ec2-tags.js';
import type { Ec2Tag } from './ec2-params.js';
import type { FirewallRuleWire } from '../contract/agent-api.js';
import { pollUntil } from '../util/deadline.js';

const MAX_COUNT = 20;

interface RunRequest {
  /** ImageId as given (an AMI mapped to `templateId`). */
  imageId: string;
  templateId: string;
  /**
   * The AMI's template as the caller may see it, read only when something is written before the create (the key
   * pair into the caller's keys), so that a refusal writes nothing; otherwise the create checks it (a read less).
   */
  template: TemplateView | undefined;
  min: number;
  max: number;
  instanceType: string;
  sizes: { vcpus: number; memoryMiB: number } | undefined;
  keyName: string | undefined;
  /** The key pair named by KeyName, read once. */
  keyPair: KeyPairRecord | undefined;
  userData: string | undefined;
  /** The groups (EC2's default one when none was named). */
  groups: SecurityGroupRecord[];
  groupIds: string[];
  tags: Ec2Tag[];
  clientToken: string | undefined;
  /** The cluster of Placement.AvailabilityZone; undefined: the scheduler's choice. */
  cluster: string | undefined;
}

/** Every parameter checked, and every id resolved, before anything is written. */
async function parse(ctx: Ec2Context, call: Ec2Call): Promise<RunRequest> {
  const p = call.params;
  const imageId = p.required('ImageId');
  const templateId = await amiTemplateId(ctx, imageId);
  const min = p.int('MinCount', { min: 1, max: MAX_COUNT });
  const max = p.int('MaxCount', { min: 1, max: MAX_COUNT });
  if (min === undefined) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter MinCount');
  if (max === undefined) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter MaxCount');
  if (min > max) throw invalidParameterValue('MinCount', `${min} is above MaxCount ${max}`);
  const typeName = p.optional('InstanceType');
  const type = typeName === undefined ? undefined : ctx.instanceTypes.get(typeName);
  if (typeName !== undefined && type === undefined) throw invalidParameterValue('InstanceType', `${JSON.stringify(typeName)} is not one of ${[...ctx.instanceTypes.keys()].join(', ')}`);
  const keyName = p.optional('KeyName');
  const keyPair = keyName === undefined ? undefined : (await ctx.records.keyPairs(call.userId)).find((k) => k.name === keyName);
  if (keyName !== undefined && keyPair === undefined) throw new Ec2ApiError('InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
  const template = keyPair === undefined ? undefined : await resolveImage(ctx, call, imageId);
  const rawUserData = p.optional('UserData');
  let userData: string | undefined;
  if (rawUserData !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(rawUserData) || rawUserData.length % 4 !== 0) throw invalidParameterValue('UserData', 'is not base64');
    userData = Buffer.from(rawUserData, 'base64').toString('utf8');
    if (userData.length > 64 * 1024) throw invalidParameterValue('UserData', 'decodes to more than 64 KiB');
  }
  const zone = p.optional('Placement.AvailabilityZone');
  let cluster: string | undefined;
  if (zone !== undefined) {
    const zones = (await nativeCall<ZoneView[]>(ctx, call, 'GET', '/api/v1/zones', undefined)).map((z) => z.name);
    cluster = clusterOfZone(zone);
    if (cluster === undefined || !zones.includes(cluster)) throw invalidParameterValue('Placement.AvailabilityZone', `${JSON.stringify(zone)} is not a zone of this cloud (${zones.map(zoneOfCluster).join(', ')})`);
  }
  const groups = await resolveGroups(ctx, call, p.list('SecurityGroupId'), p.list('SecurityGroup'));
  const tags: Ec2Tag[] = [];
  for (const [i, spec] of p.tagSpecifications().entries()) {
    if (spec.resourceType !== 'instance') throw invalidParameterValue(`TagSpecification.${i + 1}.ResourceType`, `${JSON.stringify(spec.resourceType)}: only instance can be tagged at launch here`);
    checkTags(spec.tags, (j) => `TagSpecification.${i + 1}.Tag.${j + 1}`);
    tags.push(...spec.tags);
  }
  checkTags(tags, (j) => `TagSpecification.Tag.${j + 1}`);
  const clientToken = p.optional('ClientToken');
  if (clientToken !== undefined && !/^[\x21-\x7e]{1,64}$/.test(clientToken)) throw invalidParameterValue('ClientToken', 'must be 1-64 printable ASCII characters');
  return {
    imageId, templateId, template, min, max, instanceType: type?.name ?? typeName ?? 'custom',
    sizes: type === undefined ? undefined : { vcpus: type.vcpus, memoryMiB: type.memoryMiB },
    keyName, keyPair, userData, groups, groupIds: groups.map((g) => g.id), tags, clientToken, cluster,
  };
}

/**
 * RunInstances: up to MaxCount VMs from the AMI's template through the
 * native API (its access rules, quotas and placement); fewer than MinCount
 * and the ones made are terminated again and the call fails. A ClientToken
 * is claimed in the store before the first VM is made, and each VM id is
 * recorded under it as it is made: a retry with the same token answers with
 * those instances and makes no more. Each VM's id is its reservation's and
 * launch index's (`launchVmId`), so a retry of a launch the controller did not
 * finish (killed between a create and its record) resumes it: the VM it made
 * is found by that id and recorded, never made a second time.
 */
export function runInstances(changed: SecurityGroupsChanged): Ec2Handler {
  return async (ctx, call) => {
    const req = await parse(ctx, call);
    const params = requestDigest(req);
    let reservationId = newEc2Id('reservation');
    /** The reservation's VMs made before this call: a launch this retry of its token resumes. */
    let before: string[] = [];
    let claimed = false;
    if (req.clientToken !== undefined) {
      let seen = await ctx.records.clientToken(call.userId, req.clientToken);
      if (!seen) claimed = await ctx.records.claimClientToken(call.userId, req.clientToken, reservationId, params);
      if (!seen && !claimed) seen = await ctx.records.clientToken(call.userId, req.clientToken);
      if (seen?.params !== undefined && seen.params !== params) throw idempotentParameterMismatch(req.clientToken, seen.reservationId);
      if (seen?.complete === true) return describeReservation(ctx, call, seen.reservationId, seen.vmIds, req.template);
      if (seen) [reservationId, before] = [seen.reservationId, seen.vmIds];
    }
    if (req.keyPair !== undefined) await ensureKeyInUserKeys(ctx, call, req.keyPair);
    // The groups' rules go into each VM's spec at create: its first boot is already filtered (no window before a push lands).
    const firewall = await groupsFirewall(ctx.records, req.groupIds);
    const made = [...before];
    const instances: XmlObject[] = [];
    // In key order, as the store lists them (DescribeInstances shows the same tagSet).
    const tags = new Map([...req.tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((t) => [t.key, t.value]));
    try {
      // The token is this call's, nothing made yet: a retry after a crash here makes the reservation's VMs itself.
      if (claimed) await ctx.failpoints?.hit('ec2.run.claimed');
      for (let i = made.length; i < req.max; i++) {
        let vm: CreatedVmView;
        try {
          vm = await createVm(ctx, call, req, firewall, launchVmId(reservationId, i));
        } catch (err) {
          if (made.length >= req.min) break;
          throw err;
        }
        made.push(vm.id);
        await ctx.failpoints?.hit('ec2.run.created');
        const rec = { vmId: vm.id, reservationId, launchIndex: i, instanceType: req.instanceType, keyName: req.keyName ?? null };
        const instanceId = await ctx.records.recordLaunch(call.userId, rec, {
          groupIds: req.groupIds, tags: req.tags, clientToken: req.clientToken === undefined ? undefined : { token: req.clientToken, vmIds: made, complete: i === req.max - 1, params },
        });
        // Described from what this call knows — the create's answer (with its NICs), the record just written, the groups and tags asked for: nothing is read back.
        // (The create answers with its NICs: it is this process's own native API, never an older one.)
        instances.push(instanceOf(ctx, { ...vm, nics: vm.nics ?? [] }, { instanceId, imageId: req.imageId, rec, sgs: req.groups, tags }).xml);
      }
      // Fewer than MaxCount: the last record did not end the token's launch.
      if (req.clientToken !== undefined && made.length < req.max) await ctx.records.completeClientToken(call.userId, req.clientToken, made, params);
      await ctx.failpoints?.hit('ec2.run.recorded');
    } catch (err) {
      // Fewer than MinCount (EC2 launches none), or a failure after a create: the ones made go again.
      for (const id of made) await terminateMade(ctx, call, id);
      if (req.clientToken !== undefined) await ctx.records.releaseClientToken(call.userId, req.clientToken);
      throw err;
    }
    // Each VM booted with the rules read above. A group edited since then (before its instances were recorded, so its
    // AuthorizeSecurityGroupIngress did not name these) is caught here: the rules read again now, and only when they
    // differ are the instances' firewalls worked out, written and pushed. An edit after this read names these instances itself.
    if (!sameRules(await groupsFirewall(ctx.records, req.groupIds), firewall)) await changed(made);
    // A resumed launch: the instances made before this call are read, as a retry of a complete one reads them all.
    if (before.length > 0) return describeReservation(ctx, call, reservationId, made, req.template);
    return { reservationId, ownerId: call.userId, groupSet: [], instancesSet: instances };
  };
}

/**
 * What a ClientToken is bound to: the digest of every parameter that shapes the launch, as given (ids as named, the
 * groups and tags in a set's order). EC2 answers a retry with the same token and other parameters
 * IdempotentParameterMismatch, so that a client reusing a token by mistake learns it instead of getting another
 * launch's instances.
 */
export function requestDigest(req: Pick<RunRequest, 'imageId' | 'min' | 'max' | 'instanceType' | 'keyName' | 'userData' | 'groupIds' | 'tags' | 'cluster'>): string {
  const fields = {
    imageId: req.imageId, min: req.min, max: req.max, instanceType: req.instanceType, keyName: req.keyName ?? null, userData: req.userData ?? null,
    groupIds: [...req.groupIds].sort(), tags: req.tags.map((t) => [t.key, t.value]).sort((a, b) => (a.join('\0') < b.join('\0') ? -1 : 1)), cluster: req.cluster ?? null,
  };
  return createHash('sha256').update(JSON.stringify(fields), 'utf8').digest('base64url');
}

function idempotentParameterMismatch(token: string, reservationId: string): Ec2ApiError {
  return new Ec2ApiError('IdempotentParameterMismatch', `Arguments on this idempotent request are inconsistent with arguments used in previous request(s): ClientToken ${token} launched reservation ${reservationId} with other parameters`);
}

/**
 * The native id of a reservation's VM at a launch index: a name-based UUID (version 5, SHA-1, RFC 9562) of the two, so
 * that a launch resumed after a crash asks the native create for the same VM (which answers 409 on its `id` when it was made).
 */
export function launchVmId(reservationId: string, launchIndex: number): string {
  const h = createHash('sha1').update(LAUNCH_NAMESPACE).update(`${reservationId}/${launchIndex}`, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
/** The namespace of launchVmId's UUIDs (a random UUID of its own, as bytes). */
const LAUNCH_NAMESPACE = Buffer.from('6a1f4e0c8b2d4f5e9c3a7d1e2f4b6c8d', 'hex');

/** How long a failed RunInstances waits for a VM it made to take terminate (it is refused while the VM is in prolog or boot). */
const UNDO_TIMEOUT_MS = 120_000;

/**
 * A VM this call made, terminated again (fewer than MinCount, or a failure after its create). A VM just made is soon
 * in prolog or boot, from which terminate is refused (INVALID_STATE): asked again until it is accepted — once its
 * host has it running or failed —, so that a failed call leaves no instance behind; a VM already terminated (or
 * terminating) is done. Another refusal ends the attempt (the call fails with its own error all the same).
 */
async function terminateMade(ctx: Ec2Context, call: Ec2Call, vmId: string): Promise<void> {
  await pollUntil(`terminating VM ${vmId}, made by a RunInstances that failed`, async () => {
    try {
      await ctx.api.call(call.userId, 'POST', `/api/v1/vms/${vmId}/actions/terminate-hard`, {});
      return true;
    } catch (err) {
      if (!(err instanceof RemoteError && err.code === 'INVALID_STATE')) return false;
      const vm = await ctx.api.call<VmView>(call.userId, 'GET', `/api/v1/vms/${vmId}`).catch(() => undefined);
      return vm === undefined || vm.state === 'terminated' || vm.state === 'epilog' ? true : undefined;
    }
  }, { timeoutMs: UNDO_TIMEOUT_MS, intervalMs: 100 }).catch(() => undefined);
}

/**
 * One VM by the native create, which checks the caller may use the AMI's template (RunInstances reads it only
 * when a key pair is written first); a template the caller may not see, or gone, is EC2's unknown AMI.
 */
async function createVm(ctx: Ec2Context, call: Ec2Call, req: RunRequest, firewall: readonly FirewallRuleWire[], id: string): Promise<CreatedVmView> {
  try {
    return await ctx.api.call<CreatedVmView>(call.userId, 'POST', '/api/v1/vms', {
      id, template: req.templateId, ...(req.sizes ?? {}), ...(req.userData === undefined ? {} : { userData: req.userData }),
      ...(req.cluster === undefined ? {} : { cluster: req.cluster }), firewall,
    });
  } catch (err) {
    // Made already, by the call this one resumes (or by one of its token still making it): that VM, as it is now.
    if (err instanceof RemoteError && err.code === 'CONFLICT' && err.details['field'] === 'id') return nativeCall<VmDetailView>(ctx, call, 'GET', `/api/v1/vms/${id}`, undefined);
    if (err instanceof RemoteError && (err.code === 'NOT_FOUND' || (err.code === 'VALIDATION_FAILED' && firstIssueField(err) === 'template'))) throw amiNotFound(req.imageId);
    throw ec2ErrorOf(err, { quota: 'InstanceLimitExceeded', fields: { userData: 'UserData', vcpus: 'InstanceType', memoryMiB: 'InstanceType', cluster: 'Placement.AvailabilityZone', nics: 'Placement.AvailabilityZone', firewall: 'SecurityGroupId' } });
  }
}

function firstIssueField(err: RemoteError): unknown {
  return (err.details['issues'] as { field?: unknown }[] | undefined)?.[0]?.field;
}

/**
 * A retried ClientToken's reservation as it is now (its instances read again); the AMI's template, when parsing
 * read it, is handed on rather than looked up again.
 */
async function describeReservation(ctx: Ec2Context, call: Ec2Call, reservationId: string, vmIds: readonly string[], template: TemplateView | undefined): Promise<XmlObject> {
  const views = await Promise.all(vmIds.map((id) => nativeCall<VmView>(ctx, call, 'GET', `/api/v1/vms/${id}`, undefined, { notFound: 'InvalidInstanceID.NotFound' })));
  const instances = await describeVms(ctx, call, views, template === undefined ? [] : [template]);
  return { reservationId, ownerId: call.userId, groupSet: [], instancesSet: instances.map((x) => x.xml) };
}
