import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCESS_ACTIONS, RESOURCE_KINDS, can, decide, relationsOf, type Actor, type AccessAction, type AccessDecision, type ResourceFacts } from './access.js';

const admin: Actor = { id: 'root', role: 'admin', memberships: [] };
const alice: Actor = { id: 'alice', role: 'user', memberships: [{ groupId: 'dev', admin: false }] };
const bob: Actor = { id: 'bob', role: 'user', memberships: [] };
const lead: Actor = { id: 'lead', role: 'user', memberships: [{ groupId: 'dev', admin: true }] };

const alicesVm: ResourceFacts = { kind: 'vm', ownerId: 'alice', ownerRole: 'user', ownerGroups: ['dev'] };
const alicesImage: ResourceFacts = { kind: 'image', ownerId: 'alice', ownerRole: 'user', ownerGroups: ['dev'] };
const catalogTemplate: ResourceFacts = { kind: 'template', ownerId: 'root', ownerRole: 'admin', ownerGroups: [] };
const devTemplate: ResourceFacts = { ...catalogTemplate, sharedWith: ['dev'] };
const openNet: ResourceFacts = { kind: 'network' };
const devNet: ResourceFacts = { kind: 'network', sharedWith: ['dev'] };
const devGroup: ResourceFacts = { kind: 'group', groupId: 'dev' };
const aliceAccount: ResourceFacts = { kind: 'user', ownerId: 'alice', ownerRole: 'user', ownerGroups: ['dev'] };

// actor, action, resource, expected: the rules as a table, including every refusal's kind.
const cases: [Actor, AccessAction, ResourceFacts, AccessDecision][] = [
  [alice, 'read', alicesVm, 'allow'],
  [alice, 'operate', alicesVm, 'allow'],
  [bob, 'read', alicesVm, 'hidden'],
  [bob, 'operate', alicesVm, 'hidden'],
  [bob, 'delete', alicesVm, 'hidden'],
  [lead, 'read', alicesVm, 'allow'],
  [lead, 'operate', alicesVm, 'allow'],
  [alice, 'manage', alicesVm, 'forbidden'],
  [admin, 'manage', alicesVm, 'allow'],
  [bob, 'read', alicesImage, 'hidden'],
  [alice, 'share', alicesImage, 'allow'],
  [lead, 'share', alicesImage, 'forbidden'],
  [lead, 'read', alicesImage, 'allow'],
  [bob, 'read', catalogTemplate, 'allow'],
  [bob, 'use', catalogTemplate, 'allow'],
  [bob, 'delete', catalogTemplate, 'forbidden'],
  [bob, 'read', devTemplate, 'hidden'],
  [alice, 'use', devTemplate, 'allow'],
  [alice, 'delete', devTemplate, 'forbidden'],
  [alice, 'share', devTemplate, 'forbidden'],
  [bob, 'use', openNet, 'allow'],
  [bob, 'use', devNet, 'hidden'],
  [alice, 'use', devNet, 'allow'],
  [alice, 'manage', devNet, 'forbidden'],
  [alice, 'read', devGroup, 'allow'],
  [alice, 'manage', devGroup, 'forbidden'],
  [lead, 'manage', devGroup, 'allow'],
  [bob, 'read', devGroup, 'hidden'],
  [alice, 'read', aliceAccount, 'allow'],
  [alice, 'operate', aliceAccount, 'allow'],
  [alice, 'manage', aliceAccount, 'forbidden'],
  [lead, 'read', aliceAccount, 'allow'],
  [lead, 'operate', aliceAccount, 'forbidden'],
  [bob, 'read', aliceAccount, 'hidden'],
  [bob, 'read', { kind: 'host' }, 'allow'],
  [bob, 'manage', { kind: 'host' }, 'forbidden'],
  [bob, 'create', { kind: 'vm', collection: true }, 'allow'],
  [bob, 'create', { kind: 'user', collection: true }, 'forbidden'],
  [bob, 'create', { kind: 'group', collection: true }, 'forbidden'],
  [bob, 'create', { kind: 'image', collection: true }, 'forbidden'],
  [bob, 'create', { kind: 'network', collection: true }, 'forbidden'],
  [alice, 'read', { kind: 'migration', ownerId: 'alice', ownerGroups: ['dev'] }, 'allow'],
  [alice, 'manage', { kind: 'migration', ownerId: 'alice', ownerGroups: ['dev'] }, 'forbidden'],
  [bob, 'read', { kind: 'migration', ownerId: 'alice', ownerGroups: ['dev'] }, 'hidden'],
  // Quotas: read by their user, the user's group admins, the group's members; set by admins only.
  [alice, 'read', { ...aliceAccount, kind: 'user-quota' }, 'allow'],
  [alice, 'manage', { ...aliceAccount, kind: 'user-quota' }, 'forbidden'],
  [lead, 'read', { ...aliceAccount, kind: 'user-quota' }, 'allow'],
  [lead, 'manage', { ...aliceAccount, kind: 'user-quota' }, 'forbidden'],
  [bob, 'read', { ...aliceAccount, kind: 'user-quota' }, 'hidden'],
  [alice, 'read', { kind: 'group-quota', groupId: 'dev' }, 'allow'],
  [alice, 'manage', { kind: 'group-quota', groupId: 'dev' }, 'forbidden'],
  [lead, 'manage', { kind: 'group-quota', groupId: 'dev' }, 'forbidden'],
  [bob, 'read', { kind: 'group-quota', groupId: 'dev' }, 'hidden'],
  [admin, 'manage', { kind: 'group-quota', groupId: 'dev' }, 'allow'],
];

test('the rules table: every case decided as listed', () => {
  for (const [actor, action, r, expected] of cases) {
    assert.equal(decide(actor, action, r), expected, `${actor.id} ${action} ${r.kind} ${JSON.stringify(r)}`);
    assert.equal(can(actor, action, r), expected === 'allow');
  }
});

test('an admin may do every action to every kind', () => {
  for (const kind of RESOURCE_KINDS) {
    for (const action of ACCESS_ACTIONS) assert.equal(decide(admin, action, { kind, ownerId: 'alice' }), 'allow', `${kind} ${action}`);
  }
});

test('a plain user never gets manage, and never anything of another user\'s unshared things', () => {
  for (const kind of RESOURCE_KINDS) {
    assert.equal(can(bob, 'manage', { kind, ownerId: 'bob', ownerRole: 'user' }), false, kind);
    if (kind === 'host') continue; // the inventory is readable by all
    for (const action of ACCESS_ACTIONS) {
      assert.notEqual(decide(bob, action, { kind, ownerId: 'alice', ownerRole: 'user', ownerGroups: ['dev'], sharedWith: ['ops'] }), 'allow', `${kind} ${action}`);
    }
  }
});

test('a group admin reaches only the members of the groups they administer', () => {
  assert.deepEqual(relationsOf(lead, alicesVm), ['anyone', 'group-admin']);
  assert.deepEqual(relationsOf(lead, { ...alicesVm, ownerGroups: ['ops'] }), ['anyone']);
  // A plain member of the owner's group is not a group admin.
  assert.equal(decide({ id: 'carol', role: 'user', memberships: [{ groupId: 'dev', admin: false }] }, 'read', alicesVm), 'hidden');
});

test('an admin\'s image or template is the public catalog until shared; a user\'s never is', () => {
  assert.ok(relationsOf(bob, catalogTemplate).includes('catalog'));
  assert.ok(!relationsOf(bob, devTemplate).includes('catalog'));
  assert.ok(!relationsOf(bob, { kind: 'template', ownerId: 'alice', ownerRole: 'user' }).includes('catalog'));
});

test('usage reports: a user reads their own, a group admin their members\' and the group\'s; a plain member or a stranger nothing (hidden)', () => {
  const alicesUsage: ResourceFacts = { kind: 'usage', ownerId: 'alice', ownerGroups: ['dev'] };
  const devUsage: ResourceFacts = { kind: 'usage', groupId: 'dev' };
  assert.equal(decide(alice, 'read', alicesUsage), 'allow');
  assert.equal(decide(lead, 'read', alicesUsage), 'allow');
  assert.equal(decide(bob, 'read', alicesUsage), 'hidden');
  assert.equal(decide(lead, 'read', devUsage), 'allow');
  assert.equal(decide(alice, 'read', devUsage), 'hidden', 'a member does not see what the others spent');
  assert.equal(decide(bob, 'read', devUsage), 'hidden');
  assert.equal(decide(admin, 'read', devUsage), 'allow');
  assert.equal(decide(alice, 'operate', alicesUsage), 'forbidden', 'a report is read, never changed');
});
