import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { firewallTableName, renderVmFirewall } from './vm-firewall.js';
import { runCommand } from '../util/run-command.js';
import { NetworkPlumbingError } from './network-plumbing-error.js';

describe('vm firewall (nftables bridge family per TAP)', () => {
  it('renders default-deny ingress with replies and ARP, one accept per rule, in a table of the TAP\'s own', () => {
    const s = renderVmFirewall('nt-ab12', [
      { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '198.18.0.0/15' },
      { protocol: 'udp', fromPort: 5000, toPort: 5100, cidr: '198.19.0.0/16' },
      { protocol: 'icmp', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' },
      { protocol: 'all', fromPort: -1, toPort: -1, cidr: '198.18.1.7/32' },
    ]);
    assert.equal(firewallTableName('nt-ab12'), 'nubo_sg_nt_ab12');
    const body = s.split('\n').map((l) => l.trim());
    assert.deepEqual(body.slice(0, 3), ['table bridge nubo_sg_nt_ab12 {}', 'delete table bridge nubo_sg_nt_ab12', 'table bridge nubo_sg_nt_ab12 {']);
    assert.ok(body.includes('oifname "nt-ab12" tcp flags & (syn | ack) != syn accept'), 'replies to connections the guest opened');
    assert.ok(body.includes('oifname "nt-ab12" ip saddr 198.18.0.0/15 tcp dport 80 accept'));
    assert.ok(body.includes('oifname "nt-ab12" ip saddr 198.19.0.0/16 udp dport 5000-5100 accept'));
    assert.ok(body.includes('oifname "nt-ab12" ip saddr 0.0.0.0/0 ip protocol icmp accept'));
    assert.ok(body.includes('oifname "nt-ab12" ip saddr 198.18.1.7/32 accept'));
    // Both the frames bridged from other ports and those the host itself sends (curl on `nubo up`), the same rules in each.
    assert.deepEqual(body.filter((l) => l.startsWith('type filter hook')), ['type filter hook forward priority 0; policy accept;', 'type filter hook output priority 0; policy accept;']);
    assert.equal(body.filter((l) => l === 'oifname "nt-ab12" ip saddr 198.18.0.0/15 tcp dport 80 accept').length, 2);
    // The drop comes after every accept.
    assert.ok(body.indexOf('oifname "nt-ab12" ether type { ip, ip6 } drop') > body.indexOf('oifname "nt-ab12" ip saddr 198.18.1.7/32 accept'));
  });

  it('nft itself accepts the script (checked with -c: parsed and validated by the kernel, nothing loaded)', async () => {
    const s = renderVmFirewall('nt-ab12', [{ protocol: 'tcp', fromPort: 22, toPort: 80, cidr: '198.18.0.0/15' }, { protocol: 'icmp', fromPort: 8, toPort: -1, cidr: '0.0.0.0/0' }]);
    await runCommand('/usr/sbin/nft', ['-c', '-f', '-'], { input: s, timeoutMs: 20_000 });
  });

  it('refuses a TAP name, CIDR or port range it cannot put in the script as such', () => {
    assert.throws(() => renderVmFirewall('tap"; flush ruleset', []), NetworkPlumbingError);
    assert.throws(() => renderVmFirewall('t1', [{ protocol: 'tcp', fromPort: 1, toPort: 2, cidr: '198.18.0.0' }]), NetworkPlumbingError);
    assert.throws(() => renderVmFirewall('t1', [{ protocol: 'tcp', fromPort: 90, toPort: 80, cidr: '198.18.0.0/15' }]), NetworkPlumbingError);
  });
});
