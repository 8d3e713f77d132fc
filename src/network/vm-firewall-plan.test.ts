import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newerFirewall, planVmFirewalls } from './vm-firewall-plan.js';
import { renderVmFirewall } from './vm-firewall.js';

const WEB = [{ protocol: 'tcp' as const, fromPort: 80, toPort: 80, cidr: '198.18.0.0/15' }];

describe('planVmFirewalls (what a host changes so its tables match its VMs)', () => {
  it('loads the table of each TAP of a live VM with rules, and only that', () => {
    const plan = planVmFirewalls([
      { taps: ['nta-0', 'nta-1'], alive: true, rules: WEB },
      { taps: ['ntb-0'], alive: true, rules: null },
      { taps: ['ntc-0'], alive: false, rules: WEB },
    ], new Map(), new Set());
    assert.deepEqual([...plan.apply.keys()], ['nta-0', 'nta-1']);
    assert.equal(plan.apply.get('nta-1'), renderVmFirewall('nta-1', WEB));
    assert.deepEqual(plan.remove, []);
  });

  it('leaves a table loaded with the same script alone, and loads it again when the kernel lost it or the rules changed', () => {
    const loaded = new Map([['nta-0', renderVmFirewall('nta-0', WEB)]]);
    assert.equal(planVmFirewalls([{ taps: ['nta-0'], alive: true, rules: WEB }], loaded, new Set(['nubo_sg_nta_0'])).apply.size, 0);
    assert.deepEqual([...planVmFirewalls([{ taps: ['nta-0'], alive: true, rules: WEB }], loaded, new Set()).apply.keys()], ['nta-0'], 'table gone (a restart of the namespace)');
    assert.deepEqual([...planVmFirewalls([{ taps: ['nta-0'], alive: true, rules: [] }], loaded, new Set(['nubo_sg_nta_0'])).apply.keys()], ['nta-0'], 'rules changed');
  });

  it('removes by exact name the tables of VMs that ended, moved away or lost their firewall', () => {
    const present = new Set(['nubo_sg_nta_0', 'nubo_sg_ntb_0', 'nubo_sg_ntc_0']);
    const plan = planVmFirewalls([
      { taps: ['nta-0'], alive: false, rules: WEB },
      { taps: ['ntb-0'], alive: true, rules: null },
    ], new Map([['ntc-0', 'x']]), present);
    assert.deepEqual(plan.remove, ['nubo_sg_nta_0', 'nubo_sg_ntb_0', 'nubo_sg_ntc_0']);
  });

  it('never removes a table that is neither one of its VMs\' nor one it loaded (another agent in the namespace)', () => {
    const plan = planVmFirewalls([{ taps: ['nta-0'], alive: true, rules: WEB }], new Map(), new Set(['nubo_sg_nta_0', 'nubo_sg_ntz_0']));
    assert.deepEqual(plan.remove, []);
  });
});

describe('newerFirewall', () => {
  it('keeps the higher revision, and what is held on a tie', () => {
    const held: { revision: number; rules: unknown[] | null } = { revision: 3, rules: null };
    assert.equal(newerFirewall(held, { revision: 2, rules: [] }), held);
    assert.equal(newerFirewall(held, { revision: 3, rules: [] }), held);
    assert.deepEqual(newerFirewall(held, { revision: 4, rules: [] }), { revision: 4, rules: [] });
    assert.equal(newerFirewall(undefined, held), held);
    assert.equal(newerFirewall(held, undefined), held);
    assert.equal(newerFirewall(undefined, undefined), undefined);
  });
});
