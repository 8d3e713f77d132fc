import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { checkFilters, passesFilters } from './ec2-filters.js';
import { isEc2Id } from './ec2-ids.js';
import { resolveInstances } from './ec2-instances.js';
import type { Ec2Tag } from './ec2-params.js';
import { resolveSnapshot } from './ec2-snapshot-view.js';
import { resolveVolume } from './ec2-volume-view.js';

const MAX_TAGS = 50;
const RESOURCE_TYPES: Readonly<Record<string, string>> = { i: 'instance', ami: 'image', vol: 'volume', snap: 'snapshot', sg: 'security-group', key: 'key-pair' };

/** EC2's tag rules: key 1-128 characters, value up to 256, no `aws:` prefix; each refusal names the parameter. */
export function checkTags(tags: readonly Ec2Tag[], where: (i: number) => string): void {
  if (tags.length > MAX_TAGS) throw new Ec2ApiError('TagLimitExceeded', `at most ${MAX_TAGS} tags per resource; ${tags.length} were given`);
  const seen = new Set<string>();
  for (const [i, t] of tags.entries()) {
    if (t.key.length < 1 || t.key.length > 128) throw invalidParameterValue(`${where(i)}.Key`, `a tag key has 1 to 128 characters, this one ${t.key.length}`);
    if (t.value.length > 256) throw invalidParameterValue(`${where(i)}.Value`, `a tag value has at most 256 characters, this one ${t.value.length}`);
    if (t.key.toLowerCase().startsWith('aws:')) throw invalidParameterValue(`${where(i)}.Key`, 'tag keys starting with aws: are reserved');
    if (seen.has(t.key)) throw invalidParameterValue(`${where(i)}.Key`, `the key ${JSON.stringify(t.key)} is given twice`);
    seen.add(t.key);
  }
}

/** Checks that the caller may tag (sees) each resource; an id of another user's resource is NotFound, as a missing one. */
async function checkResources(ctx: Ec2Context, call: Ec2Call, ids: readonly string[]): Promise<void> {
  const groups = await ctx.records.securityGroups(call.userId);
  const keys = await ctx.records.keyPairs(call.userId);
  for (const id of ids) {
    const prefix = id.split('-')[0] ?? '';
    const type = RESOURCE_TYPES[prefix];
    if (type === undefined || !isEc2Id(type as 'instance', id)) throw new Ec2ApiError('InvalidID', `The ID '${id}' is not valid`);
    const notFound = (code: string) => new Ec2ApiError(code, `The ID '${id}' does not exist`);
    if (type === 'instance') await resolveInstances(ctx, call, [id]);
    else if (type === 'volume') await resolveVolume(ctx, call, id, 'ResourceId');
    else if (type === 'snapshot') await resolveSnapshot(ctx, call, id, 'ResourceId');
    else if (type === 'image') {
      const nuboId = await ctx.records.nuboIdOf(type, id);
      if (nuboId === undefined) throw notFound('InvalidAMIID.NotFound');
      await nativeCall(ctx, call, 'GET', `/api/v1/templates/${nuboId}`, undefined, { notFound: 'InvalidAMIID.NotFound' });
    } else if (type === 'security-group' && !groups.some((g) => g.id === id)) throw notFound('InvalidGroup.NotFound');
    else if (type === 'key-pair' && !keys.some((k) => k.id === id)) throw notFound('InvalidKeyPair.NotFound');
  }
}

export const createTags: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('ResourceId');
  if (ids.length === 0) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter ResourceId');
  const tags = call.params.tags();
  if (tags.length === 0) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter Tag');
  checkTags(tags, (i) => `Tag.${i + 1}`);
  await checkResources(ctx, call, ids);
  const have = await ctx.records.tags(call.userId, ids);
  for (const id of ids) {
    const keys = new Set([...have.filter((t) => t.resourceId === id).map((t) => t.key), ...tags.map((t) => t.key)]);
    if (keys.size > MAX_TAGS) throw new Ec2ApiError('TagLimitExceeded', `${id} would have ${keys.size} tags; at most ${MAX_TAGS}`);
  }
  await ctx.records.setTags(call.userId, ids, tags);
  return { return: true };
};

export const deleteTags: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('ResourceId');
  if (ids.length === 0) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter ResourceId');
  await checkResources(ctx, call, ids);
  const tags = call.params.tags().map((t, i) => ({ key: t.key, value: call.params.optional(`Tag.${i + 1}.Value`) }));
  await ctx.records.deleteTags(call.userId, ids, tags);
  return { return: true };
};

export const describeTags: Ec2Handler = async (ctx, call) => {
  const filters = call.params.filters();
  checkFilters(filters, ['resource-id', 'resource-type', 'key', 'value']);
  const all = await ctx.records.tags(call.userId);
  const rows = all.filter((t) => passesFilters(filters, {
    fields: { 'resource-id': [t.resourceId], 'resource-type': [RESOURCE_TYPES[t.resourceId.split('-')[0] ?? ''] ?? ''], key: [t.key], value: [t.value] },
    tags: new Map(),
  }));
  return { tagSet: rows.map((t) => ({ resourceId: t.resourceId, resourceType: RESOURCE_TYPES[t.resourceId.split('-')[0] ?? ''], key: t.key, value: t.value })) };
};
