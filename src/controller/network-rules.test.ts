import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkIssues } from './network-rules.js';

const fields = (b: Parameters<typeof networkIssues>[0]): string[] => networkIssues(b).map((i) => `${i.field}: ${i.message}`);

test('the lab range for virtual networks is accepted', () => {
  assert.deepEqual(fields({ cidr: '198.18.64.0/24', gateway: '198.18.64.1' }), []);
});

test("the single-machine range 198.19.0.0/16 is accepted (nubo up's default network)", () => {
  assert.deepEqual(fields({ cidr: '198.19.0.0/16', gateway: '198.19.0.1', dns: ['198.19.0.1'] }), []);
  assert.deepEqual(fields({ cidr: '198.19.7.0/24', gateway: '198.19.7.1' }), []);
});

test('the lab fabric, other private ranges and public addresses are refused, naming the field', () => {
  for (const cidr of ['198.18.0.0/24', '198.18.0.0/16', '10.0.0.0/24', '192.168.1.0/24', '172.16.0.0/16', '8.8.8.0/24']) {
    const issues = networkIssues({ cidr });
    assert.equal(issues.length, 1, cidr);
    assert.equal(issues[0]?.field, 'cidr', cidr);
    assert.match(issues[0]?.message ?? '', /198\.18\.64\.0\/18.*198\.19\.0\.0\/16|198\.19\.0\.0\/16.*198\.18\.64\.0\/18/, cidr);
  }
});
