import { test } from 'node:test';
import assert from 'node:assert/strict';
import { amiNics } from './ami-nics.js';

const net = (id: string, name: string, cluster: string | null = null): { id: string; name: string; cluster: string | null } => ({ id, name, cluster });

test('an AMI registered on `nubo up` gets a NIC on the network default, whatever else exists', () => {
  assert.deepEqual(amiNics([net('n1', 'lab'), net('n2', 'default'), net('n3', 'other')]), [{ network: 'n2' }]);
});

test('with no network default, the only network the caller may use', () => {
  assert.deepEqual(amiNics([net('n1', 'lab')]), [{ network: 'n1' }]);
  // A cluster-bound network does not count: it would tie the AMI to its cluster.
  assert.deepEqual(amiNics([net('n1', 'lab'), net('n2', 'c1-net', 'c1')]), [{ network: 'n1' }]);
});

test('no network, several without a default, or only cluster-bound ones: a NIC on no network, as before', () => {
  assert.deepEqual(amiNics([]), [{}]);
  assert.deepEqual(amiNics([net('n1', 'a'), net('n2', 'b')]), [{}]);
  assert.deepEqual(amiNics([net('n1', 'default', 'c1')]), [{}]);
});
