import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../errors/validation-error.js';
import { CommandError } from '../errors/command-error.js';
import { QmpClient } from '../hypervisor/qemu/qmp-client.js';
import { processGone, readPidFile } from '../hypervisor/qemu/qemu-process.js';
import { pollUntil } from '../util/deadline.js';
import { freePort } from '../util/free-port.js';
import { runCommand } from '../util/run-command.js';
import { addMigrationHost, checkMigrationTlsDir, createMigrationPki, MIGRATION_TLS_FILES } from './migration-pki.js';
import { MigrationTlsError } from './migration-tls-error.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-pki-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const HOSTS = [{ name: 'h1', address: '198.18.1.1' }, { name: 'h2', address: '198.18.1.2' }];
const openssl = (args: string[]): Promise<{ stdout: string }> => runCommand('openssl', args);
const verifies = (ca: string, cert: string, purpose: 'sslserver' | 'sslclient'): Promise<boolean> =>
  openssl(['verify', '-purpose', purpose, '-CAfile', ca, cert]).then(() => true, () => false);
const snapshot = async (dir: string): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(join(e.parentPath, e.name), await readFile(join(e.parentPath, e.name), 'utf8'));
  }
  return out;
};

test('one CA, and per host the tls-creds-x509 files, signed by it, with the SANs and purposes QEMU checks', async () => {
  const dir = join(root, 'pki');
  const pki = await createMigrationPki(dir, HOSTS);
  assert.deepEqual(pki.changed, ['CA', 'DH parameters', 'certificates of h1', 'certificates of h2']);
  assert.deepEqual(pki.hosts, HOSTS.map((h) => ({ ...h, dir: join(dir, h.name) })));
  assert.equal(pki.caCertFile, join(dir, 'ca-cert.pem'));
  for (const h of pki.hosts) {
    assert.deepEqual((await readdir(h.dir)).sort(), [...MIGRATION_TLS_FILES, 'dh-params.pem'].sort());
    // The named group (RFC 7919), so QEMU never generates parameters while a migration waits.
    assert.match((await openssl(['pkeyparam', '-in', join(h.dir, 'dh-params.pem'), '-text', '-noout'])).stdout, /ffdhe2048/);
    assert.equal(await readFile(join(h.dir, 'ca-cert.pem'), 'utf8'), await readFile(pki.caCertFile, 'utf8'));
    assert.equal(await verifies(pki.caCertFile, join(h.dir, 'server-cert.pem'), 'sslserver'), true, `${h.name} server`);
    assert.equal(await verifies(pki.caCertFile, join(h.dir, 'client-cert.pem'), 'sslclient'), true, `${h.name} client`);
    const san = (await openssl(['x509', '-in', join(h.dir, 'server-cert.pem'), '-noout', '-ext', 'subjectAltName'])).stdout;
    assert.match(san, new RegExp(`IP Address:${h.address.replaceAll('.', '\\.')}`));
    assert.match(san, new RegExp(`DNS:${h.name}\\b`));
    for (const f of ['server-key.pem', 'client-key.pem']) assert.equal((await stat(join(h.dir, f))).mode & 0o777, 0o600, `${h.name}/${f}`);
    assert.equal((await stat(h.dir)).mode & 0o777, 0o700);
  }
  assert.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600);
  await checkMigrationTlsDir(join(dir, 'h1'), { address: '198.18.1.1' });
});

test('idempotent: a second run changes nothing; a host added later gets certificates from the same CA', async () => {
  const dir = join(root, 'pki');
  const before = await snapshot(dir);
  assert.deepEqual((await createMigrationPki(dir, HOSTS)).changed, []);
  assert.deepEqual(await snapshot(dir), before);

  const h3 = await addMigrationHost(dir, { name: 'h3', address: '198.18.1.3' });
  assert.equal(h3, join(dir, 'h3'));
  assert.equal(await verifies(join(dir, 'ca-cert.pem'), join(h3, 'server-cert.pem'), 'sslserver'), true);
  const after = await snapshot(dir);
  for (const [f, text] of before) assert.equal(after.get(f), text, `${f} kept`);
  // Naming fewer hosts leaves the others alone.
  assert.deepEqual((await createMigrationPki(dir, [HOSTS[0]!])).changed, []);
  assert.ok((await stat(h3)).isDirectory());
});

test('a damaged or outdated host directory is re-issued, the others kept', async () => {
  const dir = join(root, 'pki');
  const h1Before = await readFile(join(dir, 'h1', 'server-cert.pem'), 'utf8');
  await unlink(join(dir, 'h2', 'client-key.pem'));
  const r = await createMigrationPki(dir, [...HOSTS, { name: 'h3', address: '198.18.1.33' }]);
  assert.deepEqual(r.changed, ['certificates of h2', 'certificates of h3']);
  assert.equal(await readFile(join(dir, 'h1', 'server-cert.pem'), 'utf8'), h1Before);
  await checkMigrationTlsDir(join(dir, 'h2'), { address: '198.18.1.2' });
  await checkMigrationTlsDir(join(dir, 'h3'), { address: '198.18.1.33' });
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.')), [], 'no temporary directories left');
});

test("another CA's certificates do not verify, and a host directory from it is replaced", async () => {
  const dir = join(root, 'pki');
  const other = join(root, 'other');
  await createMigrationPki(other, HOSTS);
  assert.equal(await verifies(join(dir, 'ca-cert.pem'), join(other, 'h1', 'server-cert.pem'), 'sslserver'), false);
  assert.equal(await verifies(join(other, 'ca-cert.pem'), join(dir, 'h1', 'client-cert.pem'), 'sslclient'), false);
  // A directory with a CA certificate that did not sign its pairs is what QEMU would refuse.
  const mixed = join(root, 'mixed');
  await cp(join(dir, 'h1'), mixed, { recursive: true });
  await cp(join(other, 'ca-cert.pem'), join(mixed, 'ca-cert.pem'));
  await assert.rejects(checkMigrationTlsDir(mixed), (e: unknown) => e instanceof MigrationTlsError && e.problems.some((p) => p.includes('not signed by ca-cert.pem')));
  // The other PKI's host directory swapped into this one is re-issued from this CA.
  await rm(join(dir, 'h2'), { recursive: true });
  await cp(join(other, 'h2'), join(dir, 'h2'), { recursive: true });
  assert.deepEqual((await createMigrationPki(dir, HOSTS)).changed, ['certificates of h2']);
  assert.equal(await verifies(join(dir, 'ca-cert.pem'), join(dir, 'h2', 'server-cert.pem'), 'sslserver'), true);
});

test('checkMigrationTlsDir names what is wrong: missing files, an address the certificate does not carry', async () => {
  const dir = join(root, 'pki');
  await assert.rejects(checkMigrationTlsDir(join(dir, 'h1'), { address: '198.18.1.9' }), (e: unknown) =>
    e instanceof MigrationTlsError && e.code === 'MIGRATION_TLS_INVALID' && e.problems.join() === 'server-cert.pem does not name the address 198.18.1.9');
  await assert.rejects(checkMigrationTlsDir(join(root, 'nowhere')), (e: unknown) => e instanceof MigrationTlsError && e.problems.length === MIGRATION_TLS_FILES.length);
});

test('input is checked before anything is made; addMigrationHost never makes a CA', async () => {
  const empty = join(root, 'empty');
  await assert.rejects(createMigrationPki(empty, [{ name: 'H_1', address: '198.18.1.1' }]), (e: unknown) => e instanceof ValidationError && e.field === 'hosts.0.name');
  await assert.rejects(createMigrationPki(empty, [{ name: 'h1', address: 'h1.example' }]), (e: unknown) => e instanceof ValidationError && e.field === 'hosts.0.address');
  await assert.rejects(createMigrationPki(empty, [HOSTS[0]!, HOSTS[0]!]), (e: unknown) => e instanceof ValidationError && e.field === 'hosts.1.name');
  await assert.rejects(createMigrationPki(empty, HOSTS, { caValidityDays: 100, certValidityDays: 200 }), (e: unknown) => e instanceof ValidationError && e.field === 'caValidityDays');
  await assert.rejects(addMigrationHost(empty, HOSTS[0]!), MigrationTlsError);
  await assert.rejects(stat(empty), 'nothing was made');
});

test('QEMU 7.2 loads a host directory as server (verify-peer) and client, and refuses one with a foreign CA', async () => {
  const dir = join(root, 'pki');
  const qemu = (tlsDir: string): Promise<unknown> => runCommand('qemu-system-x86_64', [
    '-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', 'stdio',
    '-object', `tls-creds-x509,id=srv,dir=${tlsDir},endpoint=server,verify-peer=on`,
    '-object', `tls-creds-x509,id=cli,dir=${tlsDir},endpoint=client`,
  ], { input: '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n', timeoutMs: 20_000 });
  await qemu(join(dir, 'h1'));
  await assert.rejects(qemu(join(root, 'mixed')), (e: unknown) => e instanceof CommandError && /failed validation|issuer/i.test(e.stderr));
});

test('a TLS migration between two QEMUs completes with these certificates, and fails for a name the certificate lacks', async () => {
  const pki = await createMigrationPki(join(root, 'loop'), [{ name: 'src', address: '127.0.0.1' }, { name: 'dst', address: '127.0.0.1' }]);
  const [src, dst] = [pki.hosts[0]!, pki.hosts[1]!];
  const run = join(root, 'run');
  const pids: number[] = [];
  const start = async (name: string, tlsDir: string, incoming: boolean): Promise<QmpClient> => {
    const sock = join(run, `${name}.qmp`);
    const pidFile = join(run, `${name}.pid`);
    await mkdir(run, { recursive: true });
    await runCommand('qemu-system-x86_64', [
      '-machine', 'pc', '-accel', 'tcg', '-m', '32', '-nodefaults', '-display', 'none', '-S', '-daemonize',
      '-qmp', `unix:${sock},server=on,wait=off`, '-pidfile', pidFile, '-name', `nubo-pki-test-${name}`,
      '-object', `tls-creds-x509,id=tls0,dir=${tlsDir},endpoint=${incoming ? 'server' : 'client'}${incoming ? ',verify-peer=on' : ''}`,
      ...(incoming ? ['-incoming', 'defer'] : []),
    ], { timeoutMs: 20_000 });
    const pid = await readPidFile(pidFile);
    assert.ok(pid);
    pids.push(pid);
    const qmp = await QmpClient.connect(sock);
    await qmp.execute('migrate-set-parameters', { 'tls-creds': 'tls0' });
    return qmp;
  };
  const migrate = async (tlsHostname?: string): Promise<{ status?: string | undefined; error?: string | undefined }> => {
    const qmps: QmpClient[] = [];
    try {
      const d = await start('dst', dst.dir, true);
      qmps.push(d);
      const s = await start('src', src.dir, false);
      qmps.push(s);
      const port = await freePort();
      await d.execute('migrate-incoming', { uri: `tcp:127.0.0.1:${port}` });
      if (tlsHostname !== undefined) await s.execute('migrate-set-parameters', { 'tls-hostname': tlsHostname });
      await s.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
      const info = await pollUntil('migration end', async () => {
        const i = await s.execute('query-migrate');
        return i.status === 'completed' || i.status === 'failed' ? i : undefined;
      }, { timeoutMs: 30_000, intervalMs: 50 });
      return { status: info.status, error: info['error-desc'] };
    } finally {
      for (const q of qmps) q.close();
      for (const pid of pids.splice(0)) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes('nubo-pki-test-')) process.kill(pid, 'SIGKILL');
        await pollUntil(`exit of ${pid}`, async () => ((await processGone(pid)) ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
      }
    }
  };
  assert.deepEqual(await migrate(), { status: 'completed', error: undefined });
  const refused = await migrate('h9');
  assert.equal(refused.status, 'failed');
  assert.match(refused.error ?? '', /hostname/i);
});
