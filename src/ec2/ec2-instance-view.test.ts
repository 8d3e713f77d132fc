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
const vm = (id: string, tpl: string | null): VmDetailView => ({
  id, name: id, owner: 'u', template: tpl, state: 'running', stateReason: null, host: 'h1', cluster: 'default', vcpus: 1, memoryMiB: 128,
  allowedActions: [], createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', nics: [], history: [],
});

/** A context whose native API serves `templates` (GET /templates and GET /templates/{id or name}) and records every call. */
function contextWith(templates: readonly TemplateView[]): { ctx: Ec2Context; calls: string[] } {
  const calls: string[] = [];
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
    instances: () => Promise.resolve(new Map()),
    securityGroups: () => Promise.resolve([]),
    awsIdOf: (kind: string, id: string) => Promise.resolve(`${kind === 'image' ? 'ami' : 'i'}-${id}`),
    tags: () => Promise.resolve([]),
    groupsOf: () => Promise.resolve([]),
  } as unknown as Ec2Records;
  return { ctx: { api, records, instanceTypes: compileInstanceTypes(), endpoint: 'http://127.0.0.1:1' }, calls };
}

const call = { userId: 'u', accessKeyId: 'AKIA', params: undefined as never, requestId: 'r' };

describe('describeVms: the templates behind the instances', () => {
  const tiny = template('t1', 'tiny');
  const big = template('t2', 'big');

  it('a poll of one instance reads its one template by name, not the whole catalog', async () => {
    const { ctx, calls } = contextWith([tiny, big, template('t3', 'other')]);
    const [i] = await describeVms(ctx, call, [vm('v1', 'tiny')]);
    assert.equal(i?.xml['imageId'], 'ami-t1');
    assert.deepEqual(calls, ['GET /api/v1/templates/tiny']);
  });

  it('a template handed in (RunInstances has read it) is not read again', async () => {
    const { ctx, calls } = contextWith([tiny]);
    const out = await describeVms(ctx, call, [vm('v1', 'tiny'), vm('v2', 'tiny')], [tiny]);
    assert.deepEqual(out.map((x) => x.xml['imageId']), ['ami-t1', 'ami-t1']);
    assert.deepEqual(calls, []);
  });

  it('a name the lookup does not find (gone, hidden, or shared by two) is matched in the list, as before', async () => {
    const twin = template('t9', 'tiny');
    const { ctx, calls } = contextWith([tiny, twin, big]);
    const out = await describeVms(ctx, call, [vm('v1', 'tiny'), vm('v2', 'big'), vm('v3', 'gone'), vm('v4', null)]);
    assert.deepEqual(out.map((x) => x.xml['imageId']), ['ami-t1', 'ami-t2', '', '']);
    assert.ok(calls.includes('GET /api/v1/templates'), calls.join(', '));
  });

  it('many templates are read in one list', async () => {
    const many = Array.from({ length: 6 }, (_, i) => template(`t${i}`, `n${i}`));
    const { ctx, calls } = contextWith(many);
    const out = await describeVms(ctx, call, many.map((t, i) => vm(`v${i}`, t.name)));
    assert.deepEqual(out.map((x) => x.xml['imageId']), many.map((t) => `ami-${t.id}`));
    assert.deepEqual(calls, ['GET /api/v1/templates']);
  });
});
