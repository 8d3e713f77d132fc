import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentClient } from '../client/agent-client.js';
import { NuboClient } from '../client/nubo-client.js';
import { errorMessage } from '../errors/nubo-error.js';
import { createMigrationPki } from '../security/migration-pki.js';
import { pollUntil } from '../util/deadline.js';
import { runCommand } from '../util/run-command.js';
import { deleteLink, deleteNetns, ensureBridge, ensureNetns, ensureUplink, netnsExists } from '../network/lab-topology.js';
import { isLabProcess, killQemusIn, NUBO_CLI, spawnDetached, stopLabProcess } from './lab-process.js';
import { ensureLabController, type LabControllerApis, type LabCredentials } from './lab-controller.js';
import {
  FABRIC_ADDRESS, FABRIC_PREFIX_LEN, HOST_BRIDGE, HOST_UPLINK, LAB_AGENT_PORT, checkPrefix, labStateFile, newLabState, planHost, readLabState, writeLabState,
  type LabHost, type LabState,
} from './lab-state.js';
import { LabError } from './lab-error.js';
import { ensureLabClusters, planLabClusters } from './lab-clusters.js';

export interface LabUpOptions {
  readonly prefix: string;
  /** The lab's directory: state file, host datastores, `shared`, logs. */
  readonly dir: string;
  /** Short directory for the agents' QEMU sockets (default /run/nubo-lab/<prefix>). */
  readonly runRoot?: string | undefined;
  readonly hosts: number;
  /** Put the hosts into this many clusters, `c1`… (lab-clusters.ts: contiguous blocks); default 1: all in `default`. */
  readonly clusters?: number | undefined;
  /** A running controller that listens on the fabric address, or a port for the lab to start its own on. */
  readonly controller: LabCredentials | ({ readonly startOnPort: number } & LabControllerApis);
  readonly heartbeatMs?: number | undefined;
  /** Migration streams between the hosts over TLS, with a CA of the lab's own in `<dir>/pki` (default true). */
  readonly migrationTls?: boolean | undefined;
  /** How long to wait for every host to be `enabled` (default 60 s; 0: don't wait). */
  readonly waitEnabledMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

export interface LabUpResult {
  readonly state: LabState;
  readonly credentials: LabCredentials;
  /** What this call made or started; empty when the lab was complete already. */
  readonly changed: readonly string[];
}

const DEFAULT_RUN_PARENT = '/run/nubo-lab';
const cidr = (a: string): string => `${a}/${FABRIC_PREFIX_LEN}`;

/** The state, read or new; it must belong to `prefix`. */
async function loadState(prefix: string, dir: string): Promise<LabState> {
  checkPrefix(prefix);
  const s = (await readLabState(dir)) ?? newLabState(prefix, dir);
  if (s.prefix !== prefix) throw new LabError(`${labStateFile(dir)} belongs to the lab "${s.prefix}", not "${prefix}"`);
  return s;
}

/**
 * The fabric alone: the root-namespace bridge with 198.18.0.1/16, recorded in
 * the state first. A controller can bind to the fabric address once it exists.
 */
export async function labFabricUp(prefix: string, dir: string, changed: string[] = []): Promise<LabState> {
  const state = await loadState(prefix, dir);
  // The fabric address is fixed: a second lab's bridge with it would split the routes to 198.18.0.0/16 between two fabrics.
  const holders = await fabricAddressHolders();
  const other = holders.find((dev) => dev !== state.fabricBridge);
  if (other !== undefined) throw new LabError(`another lab's fabric (bridge ${other}) already holds ${FABRIC_ADDRESS}: one lab per machine; \`nubo lab down\` that one first`);
  await writeLabState(state);
  if (await ensureBridge(state.fabricBridge, undefined, cidr(FABRIC_ADDRESS))) changed.push(`bridge ${state.fabricBridge}`);
  await mkdir(state.sharedDir, { recursive: true });
  return state;
}

/** Interfaces of the root namespace that carry the fabric address. */
async function fabricAddressHolders(): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['-j', '-4', 'addr', 'show'], { timeoutMs: 5_000 });
  const links = JSON.parse(stdout || '[]') as { ifname?: string; addr_info?: { local?: string }[] }[];
  return links.filter((l) => (l.addr_info ?? []).some((a) => a.local === FABRIC_ADDRESS)).flatMap((l) => (l.ifname ? [l.ifname] : []));
}

/** Brings the lab to `hosts` hosts, each with its namespace, uplink, agent and registration; idempotent, and recoverable by `labDown` at any step. */
export async function labUp(o: LabUpOptions): Promise<LabUpResult> {
  // A bad --clusters is refused before anything is made.
  planLabClusters(o.hosts, o.clusters ?? 1);
  const changed: string[] = [];
  const say = o.log ?? ((): void => {});
  const hb = o.heartbeatMs ?? 2_000;
  const state = await labFabricUp(o.prefix, o.dir, changed);
  const runRoot = o.runRoot ?? join(DEFAULT_RUN_PARENT, o.prefix);
  // Every host's names are recorded before any of it is made.
  for (let i = 1; i <= o.hosts; i++) if (!state.hosts.some((h) => h.index === i)) state.hosts.push(planHost(o.prefix, o.dir, runRoot, i));
  state.hosts.sort((a, b) => a.index - b.index);
  await writeLabState(state);

  let creds: LabCredentials;
  if ('startOnPort' in o.controller) {
    const wasAlive = state.controller !== undefined && (await isLabProcess(state.controller));
    creds = await ensureLabController(state, o.controller.startOnPort, hb, o.signal, { ec2Port: o.controller.ec2Port, s3Port: o.controller.s3Port });
    if (!wasAlive) changed.push(`controller ${state.controller?.pid}`);
  } else {
    creds = o.controller;
    const host = new URL(creds.url).hostname;
    if (host !== FABRIC_ADDRESS) throw new LabError(`the controller must listen on the fabric address ${FABRIC_ADDRESS} for the hosts to reach it (got ${creds.url}); e.g. \`nubo up --listen ${FABRIC_ADDRESS}:7480\``);
    if (state.controllerUrl !== undefined && state.controllerUrl !== creds.url && state.hosts.some((h) => h.agent)) {
      throw new LabError(`the lab's agents report to ${state.controllerUrl}; \`nubo lab down\` first to change the controller`);
    }
    state.controllerUrl = creds.url;
  }
  await writeLabState(state);
  const api = new NuboClient(creds.url, creds.token);
  changed.push(...(await ensureMigrationTls(state, o.hosts, o.migrationTls ?? true, o.signal)));
  await writeLabState(state);

  for (const h of state.hosts) {
    if (h.index > o.hosts) continue;
    if (await ensureNetns(h.netns)) changed.push(`netns ${h.netns}`);
    if (await ensureBridge(HOST_BRIDGE, h.netns, cidr(h.address))) changed.push(`bridge ${h.netns}/${HOST_BRIDGE}`);
    if (await ensureUplink(h.vethRoot, state.fabricBridge, h.netns, HOST_UPLINK, HOST_BRIDGE)) changed.push(`veth ${h.vethRoot}`);
    await mkdir(h.dataDir, { recursive: true });
    await mkdir(h.runDir, { recursive: true });
    const token = await hostToken(h.tokenFile);
    if (!h.agent || !(await isLabProcess(h.agent))) {
      h.agent = startLabAgent(h, creds.url, hb, join(o.dir, 'logs', `${h.name}.log`), state.sharedDir);
      changed.push(`agent ${h.name} ${h.agent.pid}`);
      await writeLabState(state);
      say(`host ${h.name}: netns ${h.netns}, ${h.address}, agent pid ${h.agent.pid}`);
    }
    const known = (await api.listHosts({ signal: o.signal })).find((x) => x.name === h.name);
    if (known && known.agentUrl !== h.agentUrl) throw new LabError(`the controller already has a host ${h.name} with agent ${known.agentUrl}, not this lab's ${h.agentUrl}`);
    if (!known) {
      await api.registerHost({ name: h.name, agentUrl: h.agentUrl, agentToken: token }, { signal: o.signal });
      changed.push(`registered ${h.name}`);
    }
    h.registered = true;
    await writeLabState(state);
  }

  // Before the hosts take VMs (they are enabled at their first heartbeat): a VM placed meanwhile would sit in `default`.
  if ((o.clusters ?? 1) > 1) changed.push(...(await ensureLabClusters(api, state.hosts.filter((h) => h.index <= o.hosts), o.clusters ?? 1, o.signal)));

  const waitMs = o.waitEnabledMs ?? 60_000;
  if (waitMs > 0) await waitEnabled(api, state.hosts.filter((h) => h.index <= o.hosts), waitMs, o.signal);
  return { state, credentials: creds, changed };
}

/**
 * Starts host `h`'s agent inside its namespace, detached; the caller records
 * it. Its migration address is its management address; with `sharedDir` it
 * sees the lab's shared datastore, with `h.migrationTlsDir` it migrates over TLS.
 */
export function startLabAgent(h: LabHost, controllerUrl: string, heartbeatMs: number, logFile: string, sharedDir?: string): NonNullable<LabHost['agent']> {
  return spawnDetached('ip', [
    'netns', 'exec', h.netns, process.execPath, '--enable-source-maps', NUBO_CLI, 'agent', '--name', h.name, '--listen', `${h.address}:${LAB_AGENT_PORT}`,
    '--token-file', h.tokenFile, '--controller', controllerUrl, '--data-dir', h.dataDir, '--run-dir', h.runDir, '--netns', h.netns, '--heartbeat-ms', String(heartbeatMs),
    '--migration-address', h.address,
    ...(sharedDir === undefined ? [] : ['--shared-dir', sharedDir]),
    ...(h.migrationTlsDir === undefined ? [] : ['--migration-tls-dir', h.migrationTlsDir]),
  ], logFile, h.dataDir);
}

/**
 * Makes (or completes) the lab's migration PKI for hosts 1…`hosts` and records
 * each host's directory, or records that the lab runs without TLS. The CA is
 * kept across `up`s and `down`s (it lives with the data), so hosts added later
 * trust the ones there. Returns what it made.
 */
async function ensureMigrationTls(state: LabState, hosts: number, tls: boolean, signal?: AbortSignal): Promise<string[]> {
  const recorded = state.migrationTls === undefined ? undefined : state.migrationTls !== false;
  if (recorded !== undefined && recorded !== tls) {
    const alive: string[] = [];
    for (const h of state.hosts) if (h.agent && (await isLabProcess(h.agent))) alive.push(h.name);
    // A running agent keeps the flags it started with: hosts with and without TLS could not migrate to each other.
    if (alive.length > 0) throw new LabError(`the lab's agents run with migration TLS ${recorded ? 'on' : 'off'}; \`nubo lab down\` first to turn it ${tls ? 'on' : 'off'}`);
  }
  const members = state.hosts.filter((h) => h.index <= hosts);
  if (!tls) {
    state.migrationTls = false;
    for (const h of members) delete h.migrationTlsDir;
    return [];
  }
  const pkiDir = join(state.dir, 'pki');
  const pki = await createMigrationPki(pkiDir, members.map((h) => ({ name: h.name, address: h.address })), { signal });
  state.migrationTls = { pkiDir };
  for (const h of members) h.migrationTlsDir = pki.hosts.find((x) => x.name === h.name)?.dir;
  return pki.changed.map((c) => `migration TLS ${c}`);
}

async function hostToken(file: string): Promise<string> {
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (existing.length >= 32) return existing;
  const t = randomBytes(32).toString('hex');
  await writeFile(file, t, { mode: 0o600 });
  return t;
}

async function waitEnabled(api: NuboClient, hosts: readonly LabHost[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
  let last = '';
  try {
    await pollUntil('lab hosts enabled', async () => {
      const all = await api.listHosts({ signal });
      const states = hosts.map((h) => `${h.name}=${all.find((x) => x.name === h.name)?.state ?? 'missing'}`);
      last = states.join(' ');
      return states.every((s) => s.endsWith('=enabled')) ? true : undefined;
    }, { timeoutMs, intervalMs: 250, signal });
  } catch (err) {
    throw new LabError(`lab hosts not enabled (${last}); see the agents' logs: ${errorMessage(err)}`, { cause: err });
  }
}

/** What the agent says, not what the state file intended: an agent started before a change keeps its old flags. */
async function agentMigrationTls(h: LabHost): Promise<boolean | undefined> {
  try {
    const token = (await readFile(h.tokenFile, 'utf8')).trim();
    return (await new AgentClient(h.agentUrl, token).host({ timeoutMs: 3_000 })).migration?.tls;
  } catch {
    return undefined;
  }
}

export interface LabDownResult {
  readonly removed: readonly string[];
}

/**
 * Removes everything the state file records — processes (the lab's controller
 * first, then the agents and the QEMUs they left), veths, namespaces, the fabric
 * — each by its exact name or pid and only if present, so a lab a crash left
 * half-made comes down too. The state file goes last; the data stays (host
 * datastores, `shared`, tokens, and the migration PKI, so the next `up` keeps its CA).
 */
export async function labDown(dir: string): Promise<LabDownResult> {
  const state = await readLabState(dir);
  if (!state) return { removed: [] };
  const removed: string[] = [];
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${errorMessage(err)}`);
    }
  };
  const stop = async (what: string, p: LabHost['agent']): Promise<void> => {
    if (p && (await isLabProcess(p))) await attempt(what, async () => { await stopLabProcess(p); removed.push(`${what} ${p.pid}`); });
  };
  await stop('controller', state.controller);
  for (const h of state.hosts) {
    await stop(`agent ${h.name}`, h.agent);
    await attempt(`QEMUs of ${h.name}`, async () => removed.push(...(await killQemusIn(h.runDir)).map((pid) => `qemu ${pid}`)));
    await attempt(`run dir of ${h.name}`, () => rm(h.runDir, { recursive: true, force: true }));
  }
  for (const h of state.hosts) {
    await attempt(`veth ${h.vethRoot}`, async () => { if (await deleteLink(h.vethRoot)) removed.push(`veth ${h.vethRoot}`); });
    // The namespace takes its bridge, its uplink end and any TAP left in it.
    await attempt(`netns ${h.netns}`, async () => { if (await deleteNetns(h.netns)) removed.push(`netns ${h.netns}`); });
  }
  await attempt(`bridge ${state.fabricBridge}`, async () => { if (await deleteLink(state.fabricBridge)) removed.push(`bridge ${state.fabricBridge}`); });
  // The run root (/run/nubo-lab/<prefix>) only if nothing but the lab's own run dirs was in it.
  for (const root of new Set(state.hosts.map((h) => dirname(h.runDir)))) {
    await rmdir(root).catch(() => {});
    if (dirname(root) === DEFAULT_RUN_PARENT) await rmdir(DEFAULT_RUN_PARENT).catch(() => {});
  }
  if (errors.length > 0) throw new LabError(`lab ${state.prefix} not fully removed (run \`nubo lab down\` again): ${errors.join('; ')}`);
  await rm(labStateFile(dir), { force: true });
  return { removed };
}

export interface LabHostStatus {
  readonly name: string;
  readonly netns: string;
  readonly netnsExists: boolean;
  readonly address: string;
  readonly agentPid: number | undefined;
  readonly agentAlive: boolean;
  /** The controller's view of the host; undefined when it cannot be asked. */
  readonly controllerState: string | undefined;
  /** Whether the agent itself reports migration TLS on (its host report); undefined when it does not answer or predates it. */
  readonly migrationTls: boolean | undefined;
}

/** Each recorded host: namespace present?, agent alive?, and its state at the controller when `api` is given and answers. */
export async function labStatus(dir: string, api?: NuboClient): Promise<{ state: LabState | undefined; hosts: LabHostStatus[]; controllerError?: string }> {
  const state = await readLabState(dir);
  if (!state) return { state, hosts: [] };
  let known: Map<string, string> | undefined;
  let controllerError: string | undefined;
  if (api) {
    try {
      known = new Map((await api.listHosts({ timeoutMs: 5_000 })).map((h) => [h.name, h.state]));
    } catch (err) {
      controllerError = errorMessage(err);
    }
  }
  const hosts: LabHostStatus[] = [];
  for (const h of state.hosts) {
    const agentAlive = h.agent !== undefined && (await isLabProcess(h.agent));
    hosts.push({
      name: h.name, netns: h.netns, netnsExists: await netnsExists(h.netns), address: h.address,
      agentPid: h.agent?.pid, agentAlive,
      controllerState: known === undefined ? undefined : (known.get(h.name) ?? 'not registered'),
      migrationTls: agentAlive ? await agentMigrationTls(h) : undefined,
    });
  }
  return { state, hosts, ...(controllerError !== undefined ? { controllerError } : {}) };
}
