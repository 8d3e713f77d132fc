import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ValidationError, type FieldIssue } from '../errors/validation-error.js';
import { deadline, type WaitOptions } from '../util/deadline.js';
import { runCommand } from '../util/run-command.js';
import { MigrationTlsError } from './migration-tls-error.js';

/**
 * The files QEMU's `tls-creds-x509` object reads from its `dir`: the server
 * endpoint (destination) needs the server pair, the client endpoint (source)
 * the client pair, and both the CA to verify the peer. dh-params.pem is
 * optional for QEMU but made anyway: without it QEMU 7.2 generates 2048-bit
 * DH parameters each time a server endpoint is created, 0.25–1.4 s of every
 * TLS migration here (the named group ffdhe2048 costs nothing to write).
 */
export const MIGRATION_TLS_FILES = ['ca-cert.pem', 'server-cert.pem', 'server-key.pem', 'client-cert.pem', 'client-key.pem'] as const;

export interface MigrationPkiHost {
  /** A DNS label; the server certificate names it (DNS SAN) besides the address. */
  readonly name: string;
  /** The host's migration address; the source verifies the destination's certificate against the address it connects to (IP SAN). */
  readonly address: string;
}

export interface MigrationPkiHostDir extends MigrationPkiHost {
  /** The host's `tls-creds-x509` directory. */
  readonly dir: string;
}

export interface MigrationPkiOptions extends WaitOptions {
  /** Lifetime of a new CA; default 3650 days. */
  readonly caValidityDays?: number | undefined;
  /** Lifetime of new host certificates; default 825 days. */
  readonly certValidityDays?: number | undefined;
  /** Host certificates expiring sooner than this are re-issued; default 30 days. */
  readonly renewBeforeDays?: number | undefined;
}

export interface MigrationPki {
  readonly dir: string;
  readonly caCertFile: string;
  /** The hosts asked for, in the order given, each with its directory. */
  readonly hosts: readonly MigrationPkiHostDir[];
  /** What this call made: `CA`, `certificates of <host>`; empty when everything was valid already. */
  readonly changed: readonly string[];
}

const CA_KEY = 'ca-key.pem';
const CA_CERT = 'ca-cert.pem';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 86_400_000;
// Host names become directory names and DNS SANs: a DNS label, so that no name collides with the CA's files or a temporary directory.
const HOST_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

interface Ca {
  readonly pem: string;
  readonly cert: X509Certificate;
}

interface Resolved {
  readonly caDays: number;
  readonly certDays: number;
  readonly renewBeforeMs: number;
}

/**
 * A certificate authority for migration streams and, per host, the directory
 * QEMU's `tls-creds-x509` wants (`<dir>/<host>/`: ca-cert.pem, server and
 * client certificate and key), made with the `openssl` CLI. Keys are EC P-256
 * (QEMU 7.2's gnutls takes them for both endpoints, with peer verification)
 * and 0600; directories 0700.
 *
 * Idempotent: a valid CA and valid host directories are kept, so hosts added
 * later get certificates from the same CA and running hosts keep theirs. A
 * host directory is re-issued when anything in it is missing, not signed by
 * this CA, does not match the host's name or address, or expires within
 * `renewBeforeDays`. Hosts not named are left alone. A CA that is unusable
 * or would expire before a certificate issued now is replaced, and then every
 * named host is re-issued.
 */
export async function createMigrationPki(dir: string, hosts: readonly MigrationPkiHost[], opts: MigrationPkiOptions = {}): Promise<MigrationPki> {
  checkHosts(hosts);
  const r = resolve(opts);
  const d = deadline(`migration PKI in ${dir}`, opts.timeoutMs ?? 60_000, opts.signal);
  try {
    const changed: string[] = [];
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let ca = await readCa(dir, Date.now() + r.certDays * DAY_MS);
    if (!ca) {
      ca = await makeCa(dir, r, d.signal);
      changed.push('CA');
    }
    if (await ensureDhParams(dir, d.signal)) changed.push('DH parameters');
    const out: MigrationPkiHostDir[] = [];
    for (const h of hosts) {
      const hostDir = join(dir, h.name);
      const problems = await tlsDirProblems(hostDir, { caPem: ca.pem, name: h.name, address: h.address, validUntilMs: Date.now() + r.renewBeforeMs });
      if (problems.length > 0) {
        await issueHost(dir, h, r, d.signal);
        changed.push(`certificates of ${h.name}`);
      } else {
        // Cheap to restore, and a key another user could read is not one QEMU should use unnoticed.
        for (const f of ['server-key.pem', 'client-key.pem']) await chmod(join(hostDir, f), 0o600);
      }
      if (!(await readFile(join(hostDir, DH_PARAMS)).then(() => true, () => false))) {
        await writeFile(join(hostDir, DH_PARAMS), await readFile(join(dir, DH_PARAMS)), { mode: 0o644 });
      }
      out.push({ name: h.name, address: h.address, dir: hostDir });
    }
    return { dir, caCertFile: join(dir, CA_CERT), hosts: out, changed };
  } finally {
    d.dispose();
  }
}

/**
 * One more host for an existing PKI: its directory, with certificates from
 * the CA already there. Unlike `createMigrationPki` it never makes a CA: one
 * made here would not be trusted by the hosts that exist.
 */
export async function addMigrationHost(dir: string, host: MigrationPkiHost, opts: MigrationPkiOptions = {}): Promise<string> {
  checkHosts([host]);
  const r = resolve(opts);
  if (!(await readCa(dir, Date.now() + r.certDays * DAY_MS))) {
    throw new MigrationTlsError(dir, [`no usable CA (${CA_CERT} and ${CA_KEY}, valid for another ${r.certDays} days): createMigrationPki makes one`]);
  }
  const pki = await createMigrationPki(dir, [host], opts);
  return pki.hosts[0]!.dir;
}

/**
 * Checks one host's `tls-creds-x509` directory as an agent starts, so that a
 * wrong directory fails at start rather than at the first migration: every
 * file present, both certificates signed by its ca-cert.pem and matching
 * their keys, for the right purpose, not expired, and — when `address` is
 * given — the server certificate naming the address peers connect to.
 */
export async function checkMigrationTlsDir(dir: string, opts: { readonly address?: string | undefined; readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
  opts.signal?.throwIfAborted();
  const problems = await tlsDirProblems(dir, { address: opts.address, validUntilMs: Date.now() });
  if (problems.length > 0) throw new MigrationTlsError(dir, problems);
}

function checkHosts(hosts: readonly MigrationPkiHost[]): void {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  hosts.forEach((h, i) => {
    if (!HOST_NAME.test(h.name)) issues.push({ field: `hosts.${i}.name`, message: 'must be a DNS label: 1–63 lower-case letters, digits and -' });
    else if (seen.has(h.name)) issues.push({ field: `hosts.${i}.name`, message: `${h.name} is named twice` });
    seen.add(h.name);
    if (isIP(h.address) === 0) issues.push({ field: `hosts.${i}.address`, message: 'must be an IPv4 or IPv6 address' });
  });
  if (issues.length > 0) throw new ValidationError('migration PKI hosts', issues);
}

function resolve(o: MigrationPkiOptions): Resolved {
  const days = (v: number | undefined, dflt: number, field: string): number => {
    const n = v ?? dflt;
    if (!Number.isInteger(n) || n < 1) throw new ValidationError('migration PKI options', [{ field, message: 'must be a whole number of days ≥ 1' }]);
    return n;
  };
  const certDays = days(o.certValidityDays, 825, 'certValidityDays');
  const renewBeforeDays = days(o.renewBeforeDays, 30, 'renewBeforeDays');
  // A CA must outlive every certificate it signs, or the hosts would stop trusting each other before their certificates expire.
  const caDays = days(o.caValidityDays, 3650, 'caValidityDays');
  if (caDays <= certDays) throw new ValidationError('migration PKI options', [{ field: 'caValidityDays', message: `must exceed certValidityDays (${certDays})` }]);
  if (renewBeforeDays >= certDays) throw new ValidationError('migration PKI options', [{ field: 'renewBeforeDays', message: `must be less than certValidityDays (${certDays})` }]);
  return { caDays, certDays, renewBeforeMs: renewBeforeDays * DAY_MS };
}

/** The CA in `dir` when its key and certificate belong together, it is a CA, and it is valid until `validUntilMs`. */
async function readCa(dir: string, validUntilMs: number): Promise<Ca | undefined> {
  const pem = await readFile(join(dir, CA_CERT), 'utf8').catch(() => undefined);
  const keyPem = await readFile(join(dir, CA_KEY), 'utf8').catch(() => undefined);
  if (pem === undefined || keyPem === undefined) return undefined;
  const cert = parseCert(pem);
  const key = parseKey(keyPem);
  if (!cert || !key || !cert.ca || !cert.checkPrivateKey(key) || Date.parse(cert.validTo) < validUntilMs) return undefined;
  return { pem, cert };
}

// `-config /dev/null`: only the extensions given here, none from the system's openssl.cnf (Debian's adds CA:true to every -x509).
const REQ = ['req', '-config', '/dev/null', '-x509', '-batch', '-sha256', '-noenc', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
const opensslOpts = (signal: AbortSignal): { signal: AbortSignal; timeoutMs: number } => ({ signal, timeoutMs: 30_000 });

async function makeCa(dir: string, r: Resolved, signal: AbortSignal): Promise<Ca> {
  const tmp = join(dir, '.ca.new');
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { mode: 0o700 });
  // A unique subject: certificates of an older CA are then told apart by name, not only by a failing signature.
  const subject = `/O=nubo/CN=nubo migration CA ${randomBytes(4).toString('hex')}`;
  await runCommand('openssl', [
    ...REQ, '-keyout', join(tmp, CA_KEY), '-out', join(tmp, CA_CERT), '-subj', subject, '-days', String(r.caDays),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash',
  ], opensslOpts(signal));
  await chmod(join(tmp, CA_KEY), 0o600);
  // The key first: a crash between the renames leaves a pair that does not match, which the next run replaces.
  await rename(join(tmp, CA_KEY), join(dir, CA_KEY));
  await rename(join(tmp, CA_CERT), join(dir, CA_CERT));
  await rm(tmp, { recursive: true, force: true });
  const pem = await readFile(join(dir, CA_CERT), 'utf8');
  return { pem, cert: new X509Certificate(pem) };
}

const DH_PARAMS = 'dh-params.pem';

/** The PKI's DH parameters (RFC 7919's ffdhe2048, so nothing is generated at random); true when made now. */
async function ensureDhParams(dir: string, signal: AbortSignal): Promise<boolean> {
  const path = join(dir, DH_PARAMS);
  if (await readFile(path).then(() => true, () => false)) return false;
  await runCommand('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', `${path}.tmp`], opensslOpts(signal));
  await rename(`${path}.tmp`, path);
  return true;
}

/** A new directory for `h`, made aside and swapped in whole, so that QEMU never reads a key of one issue with the certificate of another. */
async function issueHost(dir: string, h: MigrationPkiHost, r: Resolved, signal: AbortSignal): Promise<void> {
  const final = join(dir, h.name);
  const tmp = join(dir, `.${h.name}.new`);
  const old = join(dir, `.${h.name}.old`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { mode: 0o700 });
  await writeFile(join(tmp, CA_CERT), await readFile(join(dir, CA_CERT)), { mode: 0o644 });
  await writeFile(join(tmp, DH_PARAMS), await readFile(join(dir, DH_PARAMS)), { mode: 0o644 });
  const leaf = (role: 'server' | 'client', purpose: string, san: string): Promise<unknown> => runCommand('openssl', [
    ...REQ, '-keyout', join(tmp, `${role}-key.pem`), '-out', join(tmp, `${role}-cert.pem`),
    '-CA', join(dir, CA_CERT), '-CAkey', join(dir, CA_KEY), '-subj', `/O=nubo/CN=${h.name}`, '-days', String(r.certDays),
    '-addext', 'basicConstraints=critical,CA:FALSE',
    // QEMU rejects a leaf whose critical keyUsage lacks keyEncipherment, even for an EC key that never encrypts.
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', `extendedKeyUsage=${purpose}`, '-addext', `subjectAltName=${san}`,
    '-addext', 'subjectKeyIdentifier=hash', '-addext', 'authorityKeyIdentifier=keyid:always',
  ], opensslOpts(signal));
  await leaf('server', 'serverAuth', `IP:${h.address},DNS:${h.name}`);
  await leaf('client', 'clientAuth', `DNS:${h.name}`);
  for (const f of ['server-key.pem', 'client-key.pem']) await chmod(join(tmp, f), 0o600);
  await rm(old, { recursive: true, force: true });
  await rename(final, old).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
}

interface DirExpectations {
  /** The CA certificate the directory must carry; without it, whatever ca-cert.pem holds is the CA. */
  readonly caPem?: string | undefined;
  readonly name?: string | undefined;
  readonly address?: string | undefined;
  readonly validUntilMs: number;
}

/** Everything wrong with a `tls-creds-x509` directory; empty when QEMU can use it as both endpoints. */
async function tlsDirProblems(dir: string, want: DirExpectations): Promise<string[]> {
  const files = new Map<string, string>();
  const problems: string[] = [];
  for (const f of MIGRATION_TLS_FILES) {
    const text = await readFile(join(dir, f), 'utf8').catch(() => undefined);
    if (text === undefined) problems.push(`${f} missing or unreadable`);
    else files.set(f, text);
  }
  if (problems.length > 0) return problems;
  const text = (f: (typeof MIGRATION_TLS_FILES)[number]): string => files.get(f) ?? '';
  if (want.caPem !== undefined && text('ca-cert.pem').trim() !== want.caPem.trim()) problems.push('ca-cert.pem is not the CA\'s certificate');
  const ca = parseCert(text('ca-cert.pem'));
  if (!ca?.ca) problems.push('ca-cert.pem is not a CA certificate');
  for (const [role, purpose] of [['server', SERVER_AUTH], ['client', CLIENT_AUTH]] as const) {
    const cert = parseCert(text(`${role}-cert.pem`));
    const key = parseKey(text(`${role}-key.pem`));
    if (!cert) {
      problems.push(`${role}-cert.pem is not a certificate`);
      continue;
    }
    if (ca && !cert.verify(ca.publicKey)) problems.push(`${role}-cert.pem is not signed by ca-cert.pem`);
    if (!key) problems.push(`${role}-key.pem is not a private key`);
    else if (!cert.checkPrivateKey(key)) problems.push(`${role}-key.pem does not belong to ${role}-cert.pem`);
    // Node leaves keyUsage undefined when the certificate has no extended key usage at all.
    const purposes: readonly string[] | undefined = cert.keyUsage;
    if (!purposes?.includes(purpose)) problems.push(`${role}-cert.pem is not for ${role === 'server' ? 'serverAuth' : 'clientAuth'}`);
    if (Date.parse(cert.validTo) < want.validUntilMs) problems.push(`${role}-cert.pem expires ${cert.validTo}`);
    if (role === 'server') {
      if (want.address !== undefined && cert.checkIP(want.address) === undefined) problems.push(`server-cert.pem does not name the address ${want.address}`);
      if (want.name !== undefined && cert.checkHost(want.name, { subject: 'never' }) === undefined) problems.push(`server-cert.pem does not name the host ${want.name}`);
    }
  }
  return problems;
}

function parseCert(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function parseKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}
