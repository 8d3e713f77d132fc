import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RemoteError } from '../client/remote-error.js';
import type { FirewallRuleWire } from '../contract/agent-api.js';
import { createVmBody, type CreatedVmView } from '../contract/vm-schemas.js';
import { Ec2ApiError } from './ec2-api-error.js';
import type { Ec2Context } from './ec2-context.js';
import { compileInstanceTypes } from './ec2-instance-types.js';
import { Ec2Params } from './ec2-params.js';
import type { ClientTokenRecord, Ec2Records, IngressRule, KeyPairRecord } from './ec2-records.js';
import { launchVmId, requestDigest, runInstances } from './ec2-run-instances.js';
import type { XmlObject } from './ec2-xml.js';

const AMI = 'ami-0123456789abcdef0';
const GROUP = { id: 'sg-0123456789abcdef0', ownerId: 'u', name: 'default', description: 'default group', createdAt: '2026-01-01T00:00:00.000Z' };
const SSH: IngressRule = { protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '0.0.0.0/0' };
const WEB: IngressRule = { protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '0.0.0.0/0' };

interface Fake {
  ctx: Ec2Context;
  /** Every native call and every record write, in order. */
  log: string[];
  /** The firewall each create was given. */
  firewalls: FirewallRuleWire[][];
  /** The instances handed to `changed`. */
  changed: string[][];
  /** The `id` each native create asked for. */
  ids: string[];
}

/**
 * A context whose native API makes VMs (answering with their NICs, as POST /vms does) and whose records hold one
 * default group; `rules`: what each read of the group's rules answers, in turn (the last one from then on).
 */
function fake(o: { rules?: IngressRule[][]; createFails?: RemoteError; createFailsAfter?: number; terminateRefusals?: number; keyPair?: KeyPairRecord; token?: ClientTokenRecord; madeIds?: string[] } = {}): Fake {
  let refusals = o.terminateRefusals ?? 0;
  const log: string[] = [];
  const firewalls: FirewallRuleWire[][] = [];
  const changed: string[][] = [];
  const rules = o.rules ?? [[SSH]];
  let ruleReads = 0;
  let n = 0;
  const ids: string[] = [];
  const api = {
    call: <T>(_user: string, method: string, path: string, body?: { firewall?: FirewallRuleWire[]; id?: string }): Promise<T> => {
      log.push(`${method} ${path}`);
      if (method === 'POST' && path === '/api/v1/vms') {
        ids.push(body?.id ?? '');
        // A VM of this id was made (by the call a retry resumes): the native create's 409 on `id`.
        if (o.madeIds?.includes(body?.id ?? '')) return Promise.reject(new RemoteError(409, 'CONFLICT', 'vm with id is already taken by another VM', { resource: 'vm', field: 'id', value: body?.id }));
        if (o.createFails && n >= (o.createFailsAfter ?? 0)) return Promise.reject(o.createFails);
        firewalls.push(body?.firewall ?? []);
        n++;
        const vm: CreatedVmView = {
          id: `vm-${n}`, name: `vm-${n}`, owner: 'u', template: 'tiny', templateId: 't1', state: 'pending', stateReason: null, host: null, cluster: null,
          vcpus: 1, memoryMiB: 128, allowedActions: ['terminate'], createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
          nics: [{ index: 0, network: 'lan', address: `198.18.0.${10 + n}/24`, mac: '52:54:00:00:00:01' }],
        };
        return Promise.resolve(vm as T);
      }
      if (method === 'GET' && path === '/api/v1/templates/t1') return Promise.resolve({ id: 't1', name: 'tiny', owner: 'admin' } as T);
      if (method === 'GET' && path === '/api/v1/users/me') return Promise.resolve({ sshKeys: [] } as T);
      if (method === 'PUT' && path === '/api/v1/users/me/ssh-keys') return Promise.resolve(undefined as T);
      if (method === 'POST' && path.endsWith('/actions/terminate-hard')) {
        // A VM just made is in prolog or boot a while: terminate is refused until it runs.
        if (refusals-- > 0) return Promise.reject(new RemoteError(409, 'INVALID_STATE', 'not from prolog', {}));
        return Promise.resolve(undefined as T);
      }
      if (method === 'GET' && path.startsWith('/api/v1/vms/')) {
        const id = path.slice('/api/v1/vms/'.length);
        if (o.madeIds?.includes(id)) return Promise.resolve({ id, state: 'boot', vcpus: 1, memoryMiB: 128, cluster: null, stateReason: null, createdAt: '2026-01-01T00:00:00.000Z', nics: [], history: [] } as T);
        return Promise.resolve({ id, state: 'prolog' } as T);
      }
      return Promise.reject(new Error(`unexpected native call ${method} ${path}`));
    },
  };
  const records = {
    nuboIdOf: (kind: string, id: string) => Promise.resolve(kind === 'image' && id === AMI ? 't1' : undefined),
    keyPairs: () => Promise.resolve(o.keyPair ? [o.keyPair] : []),
    securityGroups: () => Promise.resolve([GROUP]),
    rules: () => Promise.resolve(rules[Math.min(ruleReads++, rules.length - 1)]),
    clientToken: () => Promise.resolve(o.token),
    claimClientToken: (_u: string, token: string) => (log.push(`claim ${token}`), Promise.resolve(true)),
    releaseClientToken: (_u: string, token: string) => (log.push(`release ${token}`), Promise.resolve()),
    completeClientToken: (_u: string, token: string, vmIds: string[]) => (log.push(`complete ${token} ${vmIds.join(',')}`), Promise.resolve()),
    recordLaunch: (_u: string, i: { vmId: string }, r: { clientToken?: { complete: boolean } }) => (log.push(`record ${i.vmId}${r.clientToken?.complete === true ? ' complete' : ''}`), Promise.resolve(`i-00000000000000${i.vmId.slice(3).padStart(3, '0')}`)),
  } as unknown as Ec2Records;
  const ctx: Ec2Context = { api, records, instanceTypes: compileInstanceTypes(), endpoint: 'http://127.0.0.1:1' };
  return { ctx, log, firewalls, changed, ids };
}

const run = (f: Fake, params: Record<string, string>): Promise<XmlObject> => runInstances(async (ids) => void f.changed.push([...ids]))(
  f.ctx, { userId: 'u', accessKeyId: 'AKIA', requestId: 'r', params: Ec2Params.parse(new URLSearchParams({ Action: 'RunInstances', ImageId: AMI, ...params }).toString()) },
);
const instances = (out: XmlObject): XmlObject[] => out['instancesSet'] as XmlObject[];
/** The digest of a launch of AMI with the default group, overlaid with `o` (as `run` would parse it). */
const digestOf = (o: Partial<Parameters<typeof requestDigest>[0]>): string => requestDigest({
  imageId: AMI, min: 1, max: 1, instanceType: 'custom', keyName: undefined, userData: undefined, groupIds: [GROUP.id], tags: [], cluster: undefined, ...o,
});

describe('RunInstances', () => {
  it('makes each VM by one native create and describes it from what it knows: no template read, no VM read back', async () => {
    const f = fake();
    const out = await run(f, { MinCount: '2', MaxCount: '2', InstanceType: 'nubo.tiny', 'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.1.Tag.1.Key': 'role', 'TagSpecification.1.Tag.1.Value': 'web', 'TagSpecification.1.Tag.2.Key': 'env', 'TagSpecification.1.Tag.2.Value': 'prod' });
    assert.deepEqual(f.log, ['POST /api/v1/vms', 'record vm-1', 'POST /api/v1/vms', 'record vm-2']);
    const xs = instances(out);
    assert.deepEqual(xs.map((x) => [x['instanceId'], x['imageId'], x['privateIpAddress'], x['amiLaunchIndex'], x['instanceType'], (x['instanceState'] as XmlObject)['name']]), [
      ['i-00000000000000001', AMI, '198.18.0.11', 0, 'nubo.tiny', 'pending'],
      ['i-00000000000000002', AMI, '198.18.0.12', 1, 'nubo.tiny', 'pending'],
    ]);
    assert.deepEqual(xs[0]?.['groupSet'], [{ groupId: GROUP.id, groupName: 'default' }]);
    assert.deepEqual(xs[0]?.['tagSet'], [{ key: 'env', value: 'prod' }, { key: 'role', value: 'web' }], 'in key order, as DescribeInstances lists them');
    assert.equal(out['ownerId'], 'u');
  });

  it('boots each VM with its groups\' rules, and recomputes firewalls only when the rules changed meanwhile', async () => {
    const same = fake({ rules: [[SSH]] });
    await run(same, { MinCount: '1', MaxCount: '1' });
    assert.deepEqual(same.firewalls, [[{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '0.0.0.0/0' }]]);
    assert.deepEqual(same.changed, [], 'the rules read again are the ones the VM was made with: nothing to write or push');

    // AuthorizeSecurityGroupIngress between the first read and the instance's record: it could not name the new instance.
    const edited = fake({ rules: [[SSH], [SSH, WEB]] });
    await run(edited, { MinCount: '2', MaxCount: '2' });
    assert.deepEqual(edited.changed, [['vm-1', 'vm-2']], 'every instance of the reservation gets the rules as they are now');
  });

  it('leaves the template\'s access check to the create: a refused template is EC2\'s unknown AMI, its client token given back', async () => {
    const hidden = new RemoteError(400, 'VALIDATION_FAILED', 'invalid request', { issues: [{ field: 'template', message: 'no template t1' }] });
    const f = fake({ createFails: hidden });
    await assert.rejects(run(f, { MinCount: '1', MaxCount: '1', ClientToken: 'tok' }), (err: unknown) => {
      assert.ok(err instanceof Ec2ApiError);
      assert.equal(`${err.awsCode}: ${err.message}`, `InvalidAMIID.NotFound: The image id '[${AMI}]' does not exist`);
      return true;
    });
    assert.deepEqual(f.log, ['claim tok', 'POST /api/v1/vms', 'release tok']);
    // Any other refusal of the create keeps its own meaning.
    const quota = fake({ createFails: new RemoteError(409, 'QUOTA_EXCEEDED', 'over quota', {}) });
    await assert.rejects(run(quota, { MinCount: '1', MaxCount: '1' }), (err: unknown) => err instanceof Ec2ApiError && err.awsCode === 'InstanceLimitExceeded');
  });

  it('fewer than MinCount: the VMs made are terminated, asked again while their state refuses it', async () => {
    const f = fake({ createFails: new RemoteError(409, 'QUOTA_EXCEEDED', 'over quota', {}), createFailsAfter: 1, terminateRefusals: 2 });
    await assert.rejects(run(f, { MinCount: '2', MaxCount: '2', ClientToken: 'tok' }), (err: unknown) => err instanceof Ec2ApiError && err.awsCode === 'InstanceLimitExceeded');
    assert.deepEqual(f.log, [
      'claim tok', 'POST /api/v1/vms', 'record vm-1', 'POST /api/v1/vms',
      'POST /api/v1/vms/vm-1/actions/terminate-hard', 'GET /api/v1/vms/vm-1', 'POST /api/v1/vms/vm-1/actions/terminate-hard', 'GET /api/v1/vms/vm-1', 'POST /api/v1/vms/vm-1/actions/terminate-hard',
      'release tok',
    ]);
  });

  it('with a key pair, reads the template before writing the key into the caller\'s keys (a refusal writes nothing)', async () => {
    const keyPair = { name: 'k', ownerId: 'u', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBlob k', fingerprint: 'f', keyType: 'ed25519', createdAt: '2026-01-01T00:00:00.000Z' } as unknown as KeyPairRecord;
    const f = fake({ keyPair });
    await run(f, { MinCount: '1', MaxCount: '1', KeyName: 'k' });
    assert.deepEqual(f.log, ['GET /api/v1/templates/t1', 'GET /api/v1/users/me', 'PUT /api/v1/users/me/ssh-keys', 'POST /api/v1/vms', 'record vm-1']);
  });

  it('asks each native create for its reservation\'s and launch index\'s VM id; a token\'s launch is complete with its last record, or ends short explicitly', async () => {
    const f = fake();
    const out = await run(f, { MinCount: '2', MaxCount: '2', ClientToken: 'tok' });
    const reservation = out['reservationId'] as string;
    assert.deepEqual(f.ids, [launchVmId(reservation, 0), launchVmId(reservation, 1)]);
    assert.deepEqual(f.log, ['claim tok', 'POST /api/v1/vms', 'record vm-1', 'POST /api/v1/vms', 'record vm-2 complete']);
    const short = fake({ createFails: new RemoteError(409, 'QUOTA_EXCEEDED', 'over quota', {}), createFailsAfter: 1 });
    assert.equal(instances(await run(short, { MinCount: '1', MaxCount: '3', ClientToken: 'tok' })).length, 1);
    assert.deepEqual(short.log, ['claim tok', 'POST /api/v1/vms', 'record vm-1', 'POST /api/v1/vms', 'complete tok vm-1']);
  });

  it('a retry of a token whose launch did not complete (the controller killed after a create) resumes it: the VM made is found by its id and recorded, not made again', async () => {
    const made = launchVmId('r-0123456789abcdef0', 0);
    const f = fake({ token: { reservationId: 'r-0123456789abcdef0', vmIds: [], complete: false, params: digestOf({ min: 1, max: 1 }) }, madeIds: [made] });
    const out = await run(f, { MinCount: '1', MaxCount: '1', ClientToken: 'tok' });
    assert.equal(out['reservationId'], 'r-0123456789abcdef0');
    assert.deepEqual(f.ids, [made]);
    assert.deepEqual(f.log, ['POST /api/v1/vms', `GET /api/v1/vms/${made}`, `record ${made} complete`], 'no claim (the token is the first call\'s), one create refused, the VM read and recorded');
    assert.deepEqual(instances(out).map((x) => (x['instanceState'] as XmlObject)['name']), ['pending']);
  });

  it('a token used before with other parameters is IdempotentParameterMismatch, and nothing is made or claimed', async () => {
    for (const token of [
      { reservationId: 'r-0123456789abcdef0', vmIds: ['vm-a'], complete: true, params: digestOf({ min: 1, max: 1 }) },
      { reservationId: 'r-0123456789abcdef0', vmIds: [], complete: false, params: digestOf({ min: 1, max: 1 }) },
    ]) {
      const f = fake({ token });
      await assert.rejects(run(f, { MinCount: '1', MaxCount: '2', ClientToken: 'tok' }), (err: unknown) => err instanceof Ec2ApiError && err.awsCode === 'IdempotentParameterMismatch' && /tok/.test(err.message));
      assert.deepEqual(f.log, [], `complete ${token.complete}: no claim, no create, no record, no release`);
    }
    // A row written before the digest was kept binds no parameters: the retry is answered with its reservation.
    const old = fake({ token: { reservationId: 'r-0123456789abcdef0', vmIds: [], complete: false, params: undefined } });
    assert.equal((await run(old, { MinCount: '1', MaxCount: '2', ClientToken: 'tok' }))['reservationId'], 'r-0123456789abcdef0');
    assert.deepEqual(old.log, ['POST /api/v1/vms', 'record vm-1', 'POST /api/v1/vms', 'record vm-2 complete']);
  });
});

describe('requestDigest', () => {
  it('is the same for the same launch (groups and tags in any order) and differs with each parameter', () => {
    const base = digestOf({});
    assert.equal(digestOf({ groupIds: ['sg-b', 'sg-a'], tags: [{ key: 'y', value: '2' }, { key: 'x', value: '1' }] }), digestOf({ groupIds: ['sg-a', 'sg-b'], tags: [{ key: 'x', value: '1' }, { key: 'y', value: '2' }] }));
    const others = [
      digestOf({ imageId: 'ami-0000000000000000b' }), digestOf({ min: 2, max: 2 }), digestOf({ max: 3 }), digestOf({ instanceType: 'nubo.small' }),
      digestOf({ keyName: 'k' }), digestOf({ userData: 'x' }), digestOf({ groupIds: ['sg-other'] }), digestOf({ tags: [{ key: 'x', value: '1' }] }),
      digestOf({ cluster: 'c2' }),
    ];
    for (const [i, d] of others.entries()) assert.notEqual(d, base, `parameter ${i}`);
    assert.equal(new Set(others).size, others.length);
  });
});

describe('launchVmId', () => {
  it('is a version-5 UUID of the reservation and launch index: the same for the same two, another for another', () => {
    const a = launchVmId('r-0123456789abcdef0', 0);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(launchVmId('r-0123456789abcdef0', 0), a);
    assert.notEqual(launchVmId('r-0123456789abcdef0', 1), a);
    assert.notEqual(launchVmId('r-0123456789abcdef1', 0), a);
    assert.ok(createVmBody.shape.id.safeParse(a).success, 'the native create takes it as its id');
  });
});
