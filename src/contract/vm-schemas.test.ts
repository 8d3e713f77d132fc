import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVmBody, firewallRuleProblem } from './vm-schemas.js';

const rule = { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '198.18.0.0/15' } as const;

test('firewall rules at VM create: ports, ICMP types and the CIDR checked beyond their shape, naming the field', () => {
  assert.equal(firewallRuleProblem(rule), undefined);
  assert.equal(firewallRuleProblem({ ...rule, cidr: '0.0.0.0/0' }), undefined);
  assert.equal(firewallRuleProblem({ ...rule, cidr: '198.18.66.7/32' }), undefined);
  assert.equal(firewallRuleProblem({ protocol: 'icmp', fromPort: -1, toPort: -1, cidr: '198.18.0.0/15' }), undefined);
  assert.equal(firewallRuleProblem({ protocol: 'all', fromPort: -1, toPort: -1, cidr: '198.18.0.0/15' }), undefined);
  assert.deepEqual(firewallRuleProblem({ ...rule, fromPort: 90 }), { field: 'toPort', message: 'must be at least fromPort 90' });
  assert.deepEqual(firewallRuleProblem({ ...rule, fromPort: -1 }), { field: 'fromPort', message: 'must be a port (0-65535)' });
  assert.deepEqual(firewallRuleProblem({ protocol: 'icmp', fromPort: 300, toPort: -1, cidr: '198.18.0.0/15' }), { field: 'fromPort', message: 'an ICMP type or code is -1..255' });
  assert.deepEqual(firewallRuleProblem({ ...rule, cidr: '198.18.0.1/15' }), { field: 'cidr', message: '198.18.0.1/15 has host bits set (the network is 198.18.0.0/15)' });
  assert.equal(firewallRuleProblem({ ...rule, cidr: '198.300.0.0/16' })?.field, 'cidr');
  assert.equal(firewallRuleProblem({ ...rule, cidr: '198.18.0.0/33' })?.field, 'cidr');
});

test('createVmBody takes a firewall and reports each bad rule by its index and field', () => {
  assert.deepEqual(createVmBody.parse({ template: 't', firewall: [rule] }).firewall, [rule]);
  assert.deepEqual(createVmBody.parse({ template: 't', firewall: [] }).firewall, [], '[] admits nothing: a firewall, not none');
  const bad = createVmBody.safeParse({ template: 't', firewall: [rule, { ...rule, toPort: 79 }, { ...rule, cidr: '198.19.0.0/15' }] });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues.map((i) => i.path.join('.')), ['firewall.1.toPort', 'firewall.2.cidr']);
});
