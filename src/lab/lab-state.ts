import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../errors/validation-error.js';
import { LabError } from './lab-error.js';

/** The fabric's own address (the root namespace's end of the lab, where a controller listens). */
export const FABRIC_ADDRESS = '198.18.0.1';
export const FABRIC_PREFIX_LEN = 16;
/** Port every lab agent listens on, at its host's management address (one network stack per host). */
export const LAB_AGENT_PORT = 7481;
/** The bridge inside each host's namespace, and the namespace-side end of its uplink. */
export const HOST_BRIDGE = 'br0';
export const HOST_UPLINK = 'up0';
export const MAX_LAB_HOSTS = 200;

/** A process the lab started, with a string its command line must contain before it is ever signalled (pids get reused). */
export interface LabProcess {
  readonly pid: number;
  readonly marker: string;
  readonly logFile: string;
}

/** One lab host: its names are recorded before anything is made, so `down` can remove what a crash left half-made. */
export interface LabHost {
  readonly name: string;
  readonly index: number;
  readonly netns: string;
  /** The root-namespace end of the veth uplink, enslaved to the fabric bridge. */
  readonly vethRoot: string;
  readonly address: string;
  readonly agentUrl: string;
  readonly dataDir: string;
  readonly runDir: string;
  readonly tokenFile: string;
  /** The host's QEMU tls-creds-x509 directory, when the lab runs migration TLS. */
  migrationTlsDir?: string | undefined;
  agent?: LabProcess | undefined;
  registered?: boolean | undefined;
}

export interface LabState {
  readonly version: 1;
  readonly prefix: string;
  readonly dir: string;
  readonly fabricBridge: string;
  /** The `shared` datastore: one directory for all hosts (stands for NFS). */
  readonly sharedDir: string;
  /** The controller the agents report to, as they reach it (a fabric address). */
  controllerUrl?: string | undefined;
  /** Set when the lab started the controller itself. */
  controller?: LabProcess | undefined;
  /** That controller's EC2 and S3 endpoints, when it serves them. */
  controllerEc2Url?: string | undefined;
  controllerS3Url?: string | undefined;
  /**
   * Migration TLS: the PKI (its CA, and one directory per host) when on, false
   * when the lab was made with `--no-migration-tls`; undefined until an `up`
   * with hosts decided.
   */
  migrationTls?: { readonly pkiDir: string } | false | undefined;
  hosts: LabHost[];
}

/** `nubo` → `nubo-fab`, `nubo-h1`…: short enough for 15-character interface names. */
export function checkPrefix(prefix: string): string {
  if (!/^[a-z][a-z0-9]{0,9}$/.test(prefix)) {
    throw new ValidationError('lab', [{ field: 'prefix', message: 'must be 1–10 lower-case letters or digits, starting with a letter' }]);
  }
  return prefix;
}

export function labNames(prefix: string): { fabricBridge: string; netns(i: number): string; vethRoot(i: number): string } {
  checkPrefix(prefix);
  return { fabricBridge: `${prefix}-fab`, netns: (i) => `${prefix}-h${i}`, vethRoot: (i) => `${prefix}-v${i}` };
}

/** The record of host `i` (1-based): names, addresses and directories; nothing is made here. */
export function planHost(prefix: string, dir: string, runRoot: string, i: number): LabHost {
  if (!Number.isInteger(i) || i < 1 || i > MAX_LAB_HOSTS) throw new ValidationError('lab', [{ field: 'hosts', message: `must be 1–${MAX_LAB_HOSTS}` }]);
  const names = labNames(prefix);
  const name = `h${i}`;
  const address = `198.18.1.${i}`;
  return {
    name,
    index: i,
    netns: names.netns(i),
    vethRoot: names.vethRoot(i),
    address,
    agentUrl: `http://${address}:${LAB_AGENT_PORT}`,
    dataDir: join(dir, 'hosts', name),
    runDir: join(runRoot, name),
    tokenFile: join(dir, 'hosts', `${name}.token`),
  };
}

export function newLabState(prefix: string, dir: string): LabState {
  return { version: 1, prefix, dir, fabricBridge: labNames(prefix).fabricBridge, sharedDir: join(dir, 'shared'), hosts: [] };
}

export function labStateFile(dir: string): string {
  return join(dir, 'lab.json');
}

export async function readLabState(dir: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(labStateFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const s = JSON.parse(text) as LabState;
  if (s.version !== 1 || typeof s.prefix !== 'string' || !Array.isArray(s.hosts)) throw new LabError(`${labStateFile(dir)} is not a lab state file`);
  checkPrefix(s.prefix);
  return s;
}

/** Atomic: a crash leaves the previous record or the new one, never half of one. */
export async function writeLabState(state: LabState): Promise<void> {
  await mkdir(state.dir, { recursive: true });
  const file = labStateFile(state.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
