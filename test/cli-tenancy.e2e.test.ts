import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { runCli, type CliResult } from '../src/cli/cli-test-kit.js';
import type { TemplateView } from '../src/contract/template-schemas.js';
import type { VmView } from '../src/contract/vm-schemas.js';

// Issue 13's tenancy walked through the real CLI against a real controller:
// the admin makes bob and the group devs with `nubo`, bob works with the token
// `nubo user create` printed, sharing and membership decide what he sees, a
// revoked token fails at the next command, and a user who owns a VM is not
// deleted. No agent runs: bob's VM stays `pending`, which is all ownership
// needs. Each CLI spawn costs ~0.8 s of CPU, so the walk is one test of a
// dozen of them.

let root: string;
let controller: ControllerDaemon;
let adminToken: string;

const as = (token: string) => (...args: string[]): Promise<CliResult> => runCli([...args, '--url', controller.url, '--token', token]);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-cli-tenancy-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  adminToken = (await controller.bootstrapAdmin())!;
  const adminId = (await controller.store.users.list()).find((u) => u.role === 'admin')!.id;
  await controller.store.images.create({ name: 'base', ownerId: adminId, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: 'a'.repeat(64), path: join(root, 'base') });
  await new NuboClient(controller.url, adminToken).createTemplate({ name: 'gold', vcpus: 1, memoryMiB: 64, image: 'base' });
});

after(async () => {
  await controller.orchestrator.idle();
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

const names = (r: CliResult): string[] => (JSON.parse(r.stdout) as TemplateView[]).map((t) => t.name).sort();

test('the admin makes bob and devs with the CLI; sharing and membership decide what bob sees; revoke and delete behave', async () => {
  const admin = as(adminToken);

  const made = await admin('user', 'create', 'bob');
  assert.equal(made.code, 0, made.stderr);
  const token = /^token:\s+(\S+)$/m.exec(made.stdout)?.[1];
  assert.ok(token !== undefined, `a token line in ${made.stdout}`);
  const bob = as(token);

  const group = await admin('group', 'create', 'devs');
  assert.equal(group.code, 0, group.stderr);
  assert.match(group.stdout, /^name:\s+devs$/m);

  // An admin's template is everyone's until shared: sharing it with devs makes it devs' alone.
  const shared = await admin('share', 'add', 'template', 'gold', 'devs');
  assert.equal(shared.code, 0, shared.stderr);
  assert.match(shared.stdout, /^devs\s+[0-9a-f]{8}$/m);

  const hidden = await bob('template', 'list', '--json');
  assert.equal(hidden.code, 0, `bob's token from \`user create\` works: ${hidden.stderr}`);
  assert.deepEqual(names(hidden), []);
  const show = await bob('template', 'show', 'gold');
  assert.equal(show.code, 1);
  assert.match(show.stderr, /^error \[NOT_FOUND\]/m);

  const joined = await admin('group', 'add-member', 'devs', 'bob');
  assert.equal(joined.code, 0, joined.stderr);
  assert.match(joined.stdout, /^bob\s+no$/m);

  const seen = await bob('template', 'list', '--json');
  assert.equal(seen.code, 0, seen.stderr);
  assert.deepEqual(names(seen), ['gold']);
  const vm = await bob('vm', 'create', '--template', 'gold', '--name', 'bob-vm', '--json');
  assert.equal(vm.code, 0, vm.stderr);
  const vmId = (JSON.parse(vm.stdout) as VmView).id;

  const revoked = await admin('user', 'token', 'revoke', 'first', '--user', 'bob');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, 'revoked token first\n');
  const refused = await bob('template', 'list');
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^error \[UNAUTHORIZED\]/m);
  assert.match(refused.stderr, /check --token/);
  assert.equal(refused.stdout, '');

  const kept = await admin('user', 'delete', 'bob');
  assert.equal(kept.code, 1);
  assert.match(kept.stderr, /^error \[CONFLICT\]: .*bob.*still owns 1 VM not terminated/m);
  assert.equal(kept.stdout, '');
  const ten = new TenancyClient(controller.url, adminToken);
  assert.equal((await ten.getUser('bob')).name, 'bob', 'the refused delete left bob');
  assert.deepEqual((await ten.getGroup('devs')).members.map((m) => m.name), ['bob']);
  assert.equal((await new NuboClient(controller.url, adminToken).getVm(vmId)).owner, 'bob');
});
