import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterOfZone, zoneIdOfCluster, zoneOfCluster } from './ec2-zones.js';

test('zones: the default cluster keeps nubo-1a; others are nubo-1-<cluster>; names map back one to one', () => {
  assert.equal(zoneOfCluster('default'), 'nubo-1a');
  assert.equal(zoneIdOfCluster('default'), 'nubo-1-az1');
  assert.equal(zoneOfCluster('east'), 'nubo-1-east');
  assert.equal(zoneIdOfCluster('east'), 'nubo-1-az-east');
  assert.equal(zoneOfCluster('a'), 'nubo-1-a', 'a cluster called a is not the default zone');
  for (const c of ['default', 'east', 'a', 'rack-2.b']) assert.equal(clusterOfZone(zoneOfCluster(c)), c);
  // Not zone names of this region: AWS's, the default cluster spelled the long way, the bare region.
  for (const z of ['us-east-1a', 'nubo-1-default', 'nubo-1-', 'nubo-1', 'east']) assert.equal(clusterOfZone(z), undefined, z);
});
