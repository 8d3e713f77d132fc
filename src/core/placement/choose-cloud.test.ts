import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseCloud, sizeKey, type CloudCandidate, type CloudDemand } from './choose-cloud.js';

const cloud = (name: string, o: Partial<CloudCandidate> = {}): CloudCandidate => ({
  id: `id-${name}`, name, burst: 'when-full', capacityVms: 2, bound: 0, pricePerHour: 0.1,
  instanceTypes: { '1x128': 't3.nano' }, images: { debian: 'ami-00000001' }, ...o,
});
const demand = (o: Partial<CloudDemand> = {}): CloudDemand => ({ vcpus: 1, memoryMiB: 128, image: { id: 'img-1', name: 'debian' }, ...o });

test('the size key is <vcpus>x<memoryMiB>', () => {
  assert.equal(sizeKey(2, 1024), '2x1024');
});

test('a when-full cloud takes a VM no local host took, with the mapped instance type and AMI', () => {
  assert.deepEqual(chooseCloud(demand(), [cloud('burst-1')]), { cloudId: 'id-burst-1', name: 'burst-1', instanceType: 't3.nano', imageId: 'ami-00000001', asked: false });
});

test('the image is mapped by id or by name, the id first', () => {
  const c = cloud('a', { images: { 'img-1': 'ami-0000000a', debian: 'ami-0000000b' } });
  assert.equal((chooseCloud(demand(), [c]) as { imageId: string }).imageId, 'ami-0000000a');
});

test('the cheapest fitting cloud wins, then the name', () => {
  const r = chooseCloud(demand(), [cloud('b', { pricePerHour: 0.2 }), cloud('c', { pricePerHour: 0.05 }), cloud('a', { pricePerHour: 0.05 })]);
  assert.equal(r.cloudId, 'id-a');
});

test('a never-cloud takes only VMs that ask for it by name; a requirement naming another cloud excludes it', () => {
  const never = cloud('burst-1', { burst: 'never' });
  const r = chooseCloud(demand(), [never]);
  assert.equal(r.cloudId, undefined);
  assert.deepEqual((r as { reasons: readonly string[] }).reasons, ['burst-1: it takes only VMs that ask for it (requirements: cloud == "burst-1", or a template with burst: burst-1 or any)']);
  assert.equal(chooseCloud(demand({ requirements: 'cloud == "burst-1"' }), [never]).cloudId, 'id-burst-1');
  const other = chooseCloud(demand({ requirements: 'cloud == "burst-2"' }), [cloud('burst-1')]);
  assert.deepEqual((other as { reasons: readonly string[] }).reasons, ['burst-1: the VM\'s requirements exclude it']);
});

test('a requirement true of every place (free memory) does not count as asking for a never-cloud', () => {
  assert.equal(chooseCloud(demand({ requirements: 'free_memory_mb > 64' }), [cloud('x', { burst: 'never' })]).cloudId, undefined);
  assert.equal(chooseCloud(demand({ requirements: 'free_memory_mb > 64' }), [cloud('x')]).cloudId, 'id-x');
  // Local only: `cloud == ""` holds for the site's hosts, never for a cloud.
  assert.equal(chooseCloud(demand({ requirements: 'cloud == ""' }), [cloud('x')]).cloudId, undefined);
});

test('every reason a cloud takes no VM is given, by cloud', () => {
  const r = chooseCloud(demand({ vcpus: 2, memoryMiB: 512, image: { id: 'img-9', name: 'alpine' } }), [
    cloud('a', { unavailable: 'unreachable since the last check' }),
    cloud('b'),
    cloud('c', { instanceTypes: { '2x512': 't3.micro' } }),
    cloud('d', { instanceTypes: { '2x512': 't3.micro' }, images: { alpine: 'ami-00000002' }, bound: 2 }),
  ]);
  assert.deepEqual((r as { reasons: readonly string[] }).reasons, [
    'a: unreachable since the last check',
    'b: its size map has no instance type for 2x512 (2 vCPU, 512 MiB)',
    'c: its image map has no AMI for image alpine',
    'd: it is at its limit (2 of 2 VMs)',
  ]);
});

test('a cloud that makes images available on demand takes a VM whose image it has no AMI for: the image is to be uploaded first', () => {
  const r = chooseCloud(demand({ image: { id: 'img-9', name: 'alpine' } }), [cloud('a', { uploadsImages: true })]);
  assert.deepEqual(r, { cloudId: 'id-a', name: 'a', instanceType: 't3.nano', imageId: 'upload:img-9', asked: false });
  assert.equal((chooseCloud(demand(), [cloud('a', { uploadsImages: true })]) as { imageId: string }).imageId, 'ami-00000001', 'a mapped AMI is used as it is');
});

test('map keys never reach Object.prototype', () => {
  const r = chooseCloud(demand({ image: { id: 'x', name: 'constructor' } }), [cloud('a')]);
  assert.equal(r.cloudId, undefined);
});

test('the template flag naming a cloud: that cloud only, even one whose policy is never; local hosts were tried first by the caller', () => {
  const clouds = [cloud('burst-1', { burst: 'never', pricePerHour: 0.5 }), cloud('burst-2', { pricePerHour: 0.01 })];
  const r = chooseCloud(demand({ burst: 'burst-1' }), clouds);
  assert.deepEqual(r, { cloudId: 'id-burst-1', name: 'burst-1', instanceType: 't3.nano', imageId: 'ami-00000001', asked: false });
  // The cheaper when-full cloud is not taken: the flag names another.
  const full = chooseCloud(demand({ burst: 'burst-1' }), [cloud('burst-1', { burst: 'never', bound: 2 }), cloud('burst-2', { pricePerHour: 0.01 })]);
  assert.deepEqual((full as { reasons: readonly string[] }).reasons, ['burst-1: it is at its limit (2 of 2 VMs)', 'burst-2: the VM\'s template bursts to burst-1 only']);
  // A flag naming a cloud that is gone: every cloud says so.
  assert.deepEqual((chooseCloud(demand({ burst: 'gone' }), [cloud('burst-2')]) as { reasons: readonly string[] }).reasons, ['burst-2: the VM\'s template bursts to gone only']);
});

test('the template flag any: the cheapest cloud that fits, never-clouds included', () => {
  const r = chooseCloud(demand({ burst: 'any' }), [cloud('b', { pricePerHour: 0.2 }), cloud('a', { burst: 'never', pricePerHour: 0.1 })]);
  assert.equal(r.cloudId, 'id-a');
  assert.equal(chooseCloud(demand(), [cloud('a', { burst: 'never', pricePerHour: 0.1 }), cloud('b', { pricePerHour: 0.2 })]).cloudId, 'id-b', 'unflagged: the when-full cloud only');
});

test('the wait policy holds back every VM but one whose requirements ask for the cloud by name', () => {
  const notYet = 'it takes VMs that waited more than 30 s for a local host (this one waits since 2026-12-05T21:00:00.000Z)';
  const held = chooseCloud(demand({ notYet }), [cloud('burst-1')]);
  assert.deepEqual((held as { reasons: readonly string[] }).reasons, [`burst-1: ${notYet}`]);
  assert.equal(chooseCloud(demand({ notYet, burst: 'burst-1' }), [cloud('burst-1')]).cloudId, undefined, 'the flag follows the policy too');
  const asked = chooseCloud(demand({ notYet, requirements: 'cloud == "burst-1"' }), [cloud('burst-1', { burst: 'never' })]);
  assert.deepEqual(asked, { cloudId: 'id-burst-1', name: 'burst-1', instanceType: 't3.nano', imageId: 'ami-00000001', asked: true });
  // The cloud's own refusals come first for a never-cloud nobody flagged.
  assert.deepEqual((chooseCloud(demand({ notYet }), [cloud('n', { burst: 'never' })]) as { reasons: readonly string[] }).reasons,
    ['n: it takes only VMs that ask for it (requirements: cloud == "n", or a template with burst: n or any)']);
});
