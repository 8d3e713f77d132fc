import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RemoteError } from '../client/remote-error.js';
import type { TemplateView } from '../contract/template-schemas.js';
import type { VmDetailView } from '../contract/vm-schemas.js';
import type { Ec2Context } from './ec2-context.js';
import { compileInstanceTypes } from './ec2-instance-types.js';
import { describeVms } from './ec2-instance-view.js';
import type { Ec2Records } from './ec2-records.js';

const template = (id: string, name: string): TemplateView => ({ id, name, owner: 'admin' } as unknown as TemplateView);
const vm = (id: string, tpl: string | null, templateId?: string): VmDetailView => ({
  id, name: id, owner: 'u', template: tpl, ...(templateId === undefined ? {} : { templateId }), state: 'running', stateReason: null, host: 'h1', cluster: 'default', vcpus: 1, memoryMiB: 128,
  allowedActions: [], createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', nics: [], history: [],
});

/**
 * A context whose native API serves `templates` (GET /templates and GET /templates/{id or name}) and records every
 * call, native and of the records; `amis`: the templates (ids) with an AMI id already.
 */
function contextWith(templates: readonly TemplateView[], amis: readonly string[] = templates.map((t) => t.id), groups: Record<string, string[]> = {}): { ctx: Ec2Context; calls: string[] } {
  const calls: string[] = [];
  const ami = (id: string): string => `ami-${id}`;
  const api = {
    call: <T>(_user: string, method: string, path: string): Promise<T> => {
      calls.push(`${method} ${path}`);
      if (path === '/api/v1/templates') return Promise.resolve(templates as unknown as T);
      const ref = decodeURIComponent(path.slice('/api/v1/templates/'.length));
      const byName = templates.filter((t) => t.name === ref);
      const found = templates.find((t) => t.id === ref) ?? (byName.length === 1 ? byName[0] : undefined);
      return found ? Promise.resolve(found as unknown as T) : Promise.reject(new RemoteError(404, 'NOT_FOUND', `template ${ref} not found`, {}));
    },
  };
  const records = {
    describeFacts: (_owner: string, vmIds: string[], instanceIds: string[]) => (calls.push(`facts ${vmIds.join(',')} ${instanceIds.join(',')}`), Promise.resolve({
      records: new Map(), groups: new Map(vmIds.map((id) => [id, (groups[id] ?? []).map((g) => ({ id: g, name: `name-${g}` }))])), tags: [],
    })),
    mappedAwsIdsOf: (kind: string, ids: string[]) => (calls.push(`mapped ${kind} ${ids.join(',')}`), Promise.resolve(new Map(ids.filter((id) => kind === 'image' && amis.includes(id)).map((id) => [id, ami(id)])))),
    awsIdsOf: (kind: string, ids: string[]) => (calls.push(`ids ${kind} ${ids.join(',')}`), Promise.resolve(ids.map((id) => `${kind === 'image' ? 'ami' : 'i'}-${id}`))),
  } as unknown as Ec2Records;
  return { ctx: { api, records, instanceTypes: compileInstanceTypes(), endpoint: 'http://127.0.0.1:1' }, calls };
}

const call = { userId: 'u', accessKeyId: 'AKIA', params: undefined as never, requestId: 'r' };
const native = (calls: readonly string[]): string[] => calls.filter((c) => c.startsWith('GET '));

describe('describeVms: the templates behind the instances', () => {
  const tiny = template('t1', 'tiny');
  const big = template('t2', 'big');

  it('a poll of one instance reads its one template by name, not the whole catalog', async () => {
    const { ctx, calls } = contextWith([tiny, big, template('t3', 'other')]);
    const [i] = await describeVms(ctx, call, [vm('v1', 'tiny')]);
    assert.equal(i?.xml['imageId'], 'ami-t1');
    assert.deepEqual(native(calls), ['GET /api/v1/templates/tiny']);
  });

  it('a template handed in (RunInstances has read it) is not read again', async () => {
    const { ctx, calls } = contextWith([tiny]);
    const out = await describeVms(ctx, call, [vm('v1', 'tiny'), vm('v2', 'tiny')], [tiny]);
    assert.deepEqual(out.map((x) => x.xml['imageId']), ['ami-t1', 'ami-t1']);
    assert.deepEqual(native(calls), []);
  });

  it('a name the lookup does not find (gone, hidden, or shared by two) is matched in the list, as before', async () => {
    const twin = template('t9', 'tiny');
    const { ctx, calls } = contextWith([tiny, twin, big]);
    const out = await describeVms(ctx, call, [vm('v1', 'tiny'), vm('v2', 'big'), vm('v3', 'gone'), vm('v4', null)]);
    assert.deepEqual(out.map((x) => x.xml['imageId']), ['ami-t1', 'ami-t2', '', '']);
    assert.ok(native(calls).includes('GET /api/v1/templates'), calls.join(', '));
  });

  it('many templates are read in one list', async () => {
    const many = Array.from({ length: 6 }, (_, i) => template(`t${i}`, `n${i}`));
    const { ctx, calls } = contextWith(many);
    const out = await describeVms(ctx, call, many.map((t, i) => vm(`v${i}`, t.name)));
    assert.deepEqual(out.map((x) => x.xml['imageId']), many.map((t) => `ami-${t.id}`));
    assert.deepEqual(native(calls), ['GET /api/v1/templates']);
  });

  it('a VM whose template has an AMI id already reads no template: a poll of one instance is the VM and the records', async () => {
    const { ctx, calls } = contextWith([tiny, big], ['t1']);
    const [i] = await describeVms(ctx, call, [vm('v1', 'tiny', 't1')]);
    assert.equal(i?.xml['imageId'], 'ami-t1');
    assert.deepEqual(native(calls), [], calls.join(', '));
  });

  it('keeps showing the AMI an instance was launched from once that template is gone or hidden (as EC2 does for a deregistered AMI)', async () => {
    const { ctx, calls } = contextWith([], ['t1']);
    const [i] = await describeVms(ctx, call, [vm('v1', 't1', 't1')]);
    assert.equal(i?.xml['imageId'], 'ami-t1');
    assert.deepEqual(native(calls), []);
  });

  it('a template not mapped yet is read, matched by its id (not a name another template shares), and given its AMI id', async () => {
    const twin = template('t9', 'tiny');
    const { ctx, calls } = contextWith([tiny, twin], []);
    const [i] = await describeVms(ctx, call, [vm('v1', 'tiny', 't9')]);
    assert.equal(i?.xml['imageId'], 'ami-t9');
    assert.ok(calls.includes('ids image t9'), calls.join(', '));
  });

  it('many instances: their records, groups and tags are one read for all of them, not one per VM or per kind', async () => {
    const vms = Array.from({ length: 5 }, (_, n) => vm(`v${n}`, 'tiny', 't1'));
    const { ctx, calls } = contextWith([tiny], ['t1']);
    const out = await describeVms(ctx, call, vms);
    assert.equal(out.length, 5);
    const ids = vms.map((v) => v.id).join(',');
    assert.deepEqual([...calls].sort(), [`facts ${ids} ${vms.map((v) => `i-${v.id}`).join(',')}`, 'ids image ', 'ids instance ' + ids, 'mapped image t1,t1,t1,t1,t1'].sort());
  });

  it('an instance in groups is shown with them', async () => {
    const { ctx, calls } = contextWith([tiny], ['t1'], { v1: ['sg-1'] });
    const [a, b] = await describeVms(ctx, call, [vm('v1', 'tiny', 't1'), vm('v2', 'tiny', 't1')]);
    assert.deepEqual(a?.xml['groupSet'], [{ groupId: 'sg-1', groupName: 'name-sg-1' }]);
    assert.deepEqual(b?.xml['groupSet'], []);
    assert.equal(calls.filter((c) => c.startsWith('facts ')).length, 1);
  });
});
