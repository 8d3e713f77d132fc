import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { signingKey } from './sigv4-crypto.js';

/** AWS's chain written out, with no cache: what signingKey must give. */
const derived = (secret: string, date: string, region: string, service: string): Buffer => {
  const h = (k: Buffer | string, d: string): Buffer => createHmac('sha256', k).update(d, 'utf8').digest();
  return h(h(h(h(`AWS4${secret}`, date), region), service), 'aws4_request');
};

describe('signingKey', () => {
  it('is AWS\'s published example (the secret of the SigV4 docs, 20150830/us-east-1/iam)', () => {
    assert.equal(signingKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830', 'us-east-1', 'iam').toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
  });

  it('is derived once per (secret, day, region, service) and given again after', () => {
    const a = signingKey('secret-one', '20261206', 'nubo-1', 'ec2');
    assert.equal(signingKey('secret-one', '20261206', 'nubo-1', 'ec2'), a, 'the same Buffer: kept, not derived again');
    assert.deepEqual(a, derived('secret-one', '20261206', 'nubo-1', 'ec2'));
  });

  it('tells apart every part of the scope and the secret (no key of one is given for another)', () => {
    const base = ['secret-two', '20261206', 'nubo-1', 'ec2'] as const;
    const variants: (readonly [string, string, string, string])[] = [
      ['secret-three', base[1], base[2], base[3]], [base[0], '20261207', base[2], base[3]], [base[0], base[1], 'nubo-2', base[3]], [base[0], base[1], base[2], 's3'],
    ];
    const k = signingKey(...base);
    // Parts that would read the same joined by a separator must not meet in the cache either.
    const a = signingKey('s', 'd\nr', 'x', 'ec2');
    assert.notDeepEqual(signingKey('s', 'd', 'r\nx', 'ec2'), a);
    for (const v of variants) {
      const got = signingKey(...v);
      assert.notDeepEqual(got, k, v.join('/'));
      assert.deepEqual(got, derived(...v), v.join('/'));
    }
  });
});
