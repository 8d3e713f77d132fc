import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { openStore, type Store } from '../store/open-store.js';
import { Ec2Records, type Ec2Tables } from './ec2-records.js';

let dir: string;
let store: Store;
let records: Ec2Records;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nubo-ec2rec-'));
  store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  records = new Ec2Records(store.db as unknown as Kysely<Ec2Tables>);
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Ec2Records.recordLaunch', () => {
  it('writes the instance, its groups, its i- id, its tags and the client token\'s VMs together', async () => {
    assert.equal(await records.claimClientToken('u1', 'tok', 'r-1', 'P'), true);
    const id = await records.recordLaunch('u1', { vmId: 'vm-a', reservationId: 'r-1', launchIndex: 0, instanceType: 'nubo.tiny', keyName: 'k' }, {
      groupIds: ['sg-1', 'sg-2'], tags: [{ key: 'Name', value: 'web' }], clientToken: { token: 'tok', vmIds: ['vm-a'], complete: true, params: 'P' },
    });
    assert.match(id, /^i-[0-9a-f]{17}$/);
    assert.equal(await records.awsIdOf('instance', 'vm-a'), id, 'the id the mapping gives afterwards');
    assert.deepEqual(await records.instances(['vm-a']), new Map([['vm-a', { vmId: 'vm-a', reservationId: 'r-1', launchIndex: 0, instanceType: 'nubo.tiny', keyName: 'k' }]]));
    assert.deepEqual(await records.groupsOf('vm-a'), ['sg-1', 'sg-2']);
    assert.deepEqual(await records.tags('u1', [id]), [{ resourceId: id, key: 'Name', value: 'web' }]);
    assert.deepEqual(await records.clientToken('u1', 'tok'), { reservationId: 'r-1', vmIds: ['vm-a'], complete: true, params: 'P' });
  });

  it('keeps an i- id mapped before; no groups, tags or token write nothing of theirs', async () => {
    const mapped = await records.awsIdOf('instance', 'vm-b');
    const id = await records.recordLaunch('u1', { vmId: 'vm-b', reservationId: 'r-2', launchIndex: 1, instanceType: 'custom', keyName: null }, { groupIds: [], tags: [] });
    assert.equal(id, mapped);
    assert.deepEqual(await records.groupsOf('vm-b'), []);
    assert.deepEqual(await records.tags('u1', [id]), []);
  });

  it('all or nothing: a launch whose last write fails (two tags of one key) leaves no instance, group, id or token change', async () => {
    assert.equal(await records.claimClientToken('u2', 'tok2', 'r-3', 'P'), true);
    await assert.rejects(records.recordLaunch('u2', { vmId: 'vm-c', reservationId: 'r-3', launchIndex: 0, instanceType: 'custom', keyName: null }, {
      groupIds: ['sg-9'], tags: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }], clientToken: { token: 'tok2', vmIds: ['vm-c'], complete: true, params: 'P' },
    }));
    assert.deepEqual(await records.instances(['vm-c']), new Map());
    assert.deepEqual(await records.groupsOf('vm-c'), []);
    assert.deepEqual(await (store.db as unknown as Kysely<Ec2Tables>).selectFrom('ec2_ids').selectAll().where('nubo_id', '=', 'vm-c').execute(), [], 'no i- id mapped');
    assert.deepEqual(await records.tags('u2'), []);
    assert.deepEqual(await records.clientToken('u2', 'tok2'), { reservationId: 'r-3', vmIds: [], complete: false, params: 'P' });
  });

  it('a token\'s launch: claimed not complete, each VM recorded under it, complete with its last one (or when it ends short)', async () => {
    assert.equal(await records.claimClientToken('u3', 'run', 'r-20', 'P'), true);
    assert.deepEqual(await records.clientToken('u3', 'run'), { reservationId: 'r-20', vmIds: [], complete: false, params: 'P' });
    const rec = (vmId: string, launchIndex: number) => ({ vmId, reservationId: 'r-20', launchIndex, instanceType: 'custom', keyName: null });
    await records.recordLaunch('u3', rec('vm-r0', 0), { groupIds: [], tags: [], clientToken: { token: 'run', vmIds: ['vm-r0'], complete: false, params: 'P' } });
    assert.deepEqual(await records.clientToken('u3', 'run'), { reservationId: 'r-20', vmIds: ['vm-r0'], complete: false, params: 'P' });
    await records.recordLaunch('u3', rec('vm-r1', 1), { groupIds: [], tags: [], clientToken: { token: 'run', vmIds: ['vm-r0', 'vm-r1'], complete: true, params: 'P' } });
    assert.deepEqual(await records.clientToken('u3', 'run'), { reservationId: 'r-20', vmIds: ['vm-r0', 'vm-r1'], complete: true, params: 'P' });
    assert.equal(await records.claimClientToken('u3', 'short', 'r-21', 'P'), true);
    await records.completeClientToken('u3', 'short', ['vm-x'], 'P');
    assert.deepEqual(await records.clientToken('u3', 'short'), { reservationId: 'r-21', vmIds: ['vm-x'], complete: true, params: 'P' });
  });

  it('a VM recorded twice (a resumed launch and the call it resumes) keeps its first record, groups and i- id', async () => {
    const first = await records.recordLaunch('u4', { vmId: 'vm-twice', reservationId: 'r-30', launchIndex: 0, instanceType: 'nubo.tiny', keyName: null }, { groupIds: ['sg-1'], tags: [] });
    const again = await records.recordLaunch('u4', { vmId: 'vm-twice', reservationId: 'r-30', launchIndex: 0, instanceType: 'nubo.tiny', keyName: null }, { groupIds: ['sg-1'], tags: [] });
    assert.equal(again, first);
    assert.deepEqual(await records.groupsOf('vm-twice'), ['sg-1']);
    assert.equal((await records.instances(['vm-twice'])).get('vm-twice')?.reservationId, 'r-30');
  });

  it('a token row written before launches were resumable (a bare list of VMs) reads as complete', async () => {
    await (store.db as unknown as Kysely<Ec2Tables>).insertInto('ec2_client_tokens').values({ owner_id: 'u5', token: 'old', reservation_id: 'r-40', vm_ids: '["vm-o"]', created_at: new Date().toISOString() }).execute();
    assert.deepEqual(await records.clientToken('u5', 'old'), { reservationId: 'r-40', vmIds: ['vm-o'], complete: true, params: undefined });
  });
});

describe('Ec2Records: the id mappings and the reads for many instances', () => {
  it('mappedAwsIdsOf names only what was mapped, making nothing; awsIdsOf maps the rest, each once', async () => {
    const a = await records.awsIdOf('image', 'tpl-a');
    assert.deepEqual(await records.mappedAwsIdsOf('image', ['tpl-a', 'tpl-b', 'tpl-a']), new Map([['tpl-a', a]]));
    assert.equal(await records.mappedAwsIdOf('image', 'tpl-b'), undefined, 'a lookup makes no id');
    const [a2, b, b2] = await records.awsIdsOf('image', ['tpl-a', 'tpl-b', 'tpl-b']);
    assert.equal(a2, a);
    assert.match(b ?? '', /^ami-[0-9a-f]{17}$/);
    assert.equal(b2, b, 'one id for a resource named twice');
    assert.equal(await records.nuboIdOf('image', b ?? ''), 'tpl-b');
    assert.deepEqual(await records.mappedAwsIdsOf('instance', ['tpl-a']), new Map(), 'the kinds are apart');
  });

  it('another controller\'s records (no shared memory) agree with this one\'s on every mapping, however it was made', async () => {
    const other = new Ec2Records(store.db as unknown as Kysely<Ec2Tables>);
    const made = await other.awsIdOf('volume', 'vol-x');
    assert.equal(await records.awsIdOf('volume', 'vol-x'), made);
    assert.equal(await records.nuboIdOf('volume', made), 'vol-x');
    const launched = await records.recordLaunch('u9', { vmId: 'vm-shared', reservationId: 'r-9', launchIndex: 0, instanceType: 'custom', keyName: null }, { groupIds: [], tags: [] });
    assert.equal(await other.awsIdOf('instance', 'vm-shared'), launched);
    assert.equal(await records.mappedAwsIdOf('instance', 'vm-shared'), launched);
  });

  it('a launch whose transaction fails leaves no id mapped, in the store or in memory', async () => {
    // A tag key twice: the transaction fails at its last step, after it made the VM's i- id.
    await assert.rejects(records.recordLaunch('u9', { vmId: 'vm-dup2', reservationId: 'r-10', launchIndex: 1, instanceType: 'custom', keyName: null }, {
      groupIds: [], tags: [{ key: 'k', value: '1' }, { key: 'k', value: '2' }],
    }));
    assert.equal(await records.mappedAwsIdOf('instance', 'vm-dup2'), undefined);
    assert.deepEqual(await records.instances(['vm-dup2']), new Map());
  });

  it('groupsOfEach reads the groups of many instances at once; one in none has an empty list', async () => {
    await records.setInstanceGroups('vm-g1', ['sg-b', 'sg-a']);
    await records.setInstanceGroups('vm-g2', ['sg-c']);
    assert.deepEqual(await records.groupsOfEach(['vm-g1', 'vm-g2', 'vm-none']), new Map([['vm-g1', ['sg-a', 'sg-b']], ['vm-g2', ['sg-c']], ['vm-none', []]]));
    assert.deepEqual(await records.groupsOf('vm-g1'), ['sg-a', 'sg-b']);
    assert.deepEqual(await records.groupsOfEach([]), new Map());
  });
});

describe('Ec2Records.describeFacts', () => {
  it('reads records, the owner\'s groups (in id order) and the tags (in key order) of many instances in one statement', async () => {
    const db = store.db as unknown as Kysely<Ec2Tables>;
    assert.equal(await records.addSecurityGroup({ id: 'sg-b', ownerId: 'df', name: 'web', description: 'web servers' }), true);
    assert.equal(await records.addSecurityGroup({ id: 'sg-a', ownerId: 'df', name: 'ssh', description: 'ssh' }), true);
    assert.equal(await records.addSecurityGroup({ id: 'sg-z', ownerId: 'someone-else', name: 'theirs', description: '' }), true);
    const a = await records.recordLaunch('df', { vmId: 'vm-f1', reservationId: 'r-50', launchIndex: 0, instanceType: 'nubo.tiny', keyName: 'k' }, {
      groupIds: ['sg-b', 'sg-a', 'sg-z'], tags: [{ key: 'role', value: 'web' }, { key: 'Name', value: 'a' }],
    });
    const b = await records.recordLaunch('df', { vmId: 'vm-f2', reservationId: 'r-50', launchIndex: 1, instanceType: 'nubo.tiny', keyName: null }, { groupIds: [], tags: [] });
    await records.setTags('someone-else', [b], [{ key: 'x', value: 'not yours' }]);
    let statements = 0;
    const counting = new Ec2Records(db.withPlugin({ transformQuery: (q) => (statements++, q.node), transformResult: async (r) => r.result }));
    const facts = await counting.describeFacts('df', ['vm-f1', 'vm-f2', 'vm-none'], [a, b]);
    assert.equal(statements, 1, 'one statement');
    assert.deepEqual(facts.records, new Map([
      ['vm-f1', { vmId: 'vm-f1', reservationId: 'r-50', launchIndex: 0, instanceType: 'nubo.tiny', keyName: 'k' }],
      ['vm-f2', { vmId: 'vm-f2', reservationId: 'r-50', launchIndex: 1, instanceType: 'nubo.tiny', keyName: null }],
    ]));
    assert.deepEqual(facts.groups.get('vm-f1')?.map((g) => [g.id, g.name, g.description, g.ownerId]), [['sg-a', 'ssh', 'ssh', 'df'], ['sg-b', 'web', 'web servers', 'df']], 'another owner\'s group is not shown');
    assert.deepEqual(facts.groups.get('vm-f2'), []);
    assert.deepEqual(facts.groups.get('vm-none'), []);
    assert.deepEqual(facts.tags, [{ resourceId: a, key: 'Name', value: 'a' }, { resourceId: a, key: 'role', value: 'web' }], 'only the owner\'s tags, in key order');
    assert.deepEqual(await records.describeFacts('df', [], []), { records: new Map(), groups: new Map(), tags: [] });
    // Read in slices (a statement holds a bounded number of ids): the same answer from slices of one.
    let sliced = 0;
    const small = new Ec2Records(db.withPlugin({ transformQuery: (q) => (sliced++, q.node), transformResult: async (r) => r.result }), undefined, 1);
    assert.deepEqual(await small.describeFacts('df', ['vm-f1', 'vm-f2', 'vm-none'], [a, b]), facts);
    assert.equal(sliced, 3, 'one statement a slice');
    assert.deepEqual((await records.describeFacts('df', [], [a])).tags, facts.tags, 'a slice of tags only');
    assert.deepEqual((await records.describeFacts('df', ['vm-f1'], [])).tags, [], 'no i- ids: no tags');
  });
});
