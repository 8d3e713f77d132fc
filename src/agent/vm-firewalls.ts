import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkVmId } from '../core/vm-id.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { readJsonFile } from '../util/read-json-file.js';
import { firewallTableName, listFirewallTables, loadFirewallScript, removeFirewallTable } from '../network/vm-firewall.js';
import { newerFirewall, planVmFirewalls, type FirewallVm } from '../network/vm-firewall-plan.js';
import { vmFirewallSchema, type AgentVmReport, type AgentVmSpec, type AgentVmState, type VmFirewall, type VmFirewallReport } from '../contract/agent-api.js';
import type { AgentHost } from './agent-host.js';
import { tapName } from './hypervisor-vm-spec.js';

/** States in which the VM's QEMU, and so its TAPs, exist on this host. */
const ALIVE: ReadonlySet<AgentVmState> = new Set(['running', 'paused', 'inmigrate', 'postmigrate', 'saving', 'crashed']);
const NFT_MS = 20_000;

/** Whether two specs are the same VM apart from its firewall, which changes under a prepared VM (pushed, not re-prepared). */
export function sameSpecBesidesFirewall(a: AgentVmSpec, b: AgentVmSpec): boolean {
  const { firewall: _a, ...ra } = a;
  const { firewall: _b, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

/**
 * The VMs' firewalls on this host (EC2 security groups, nftables bridge
 * tables per TAP). What a VM must enforce is the newer (by revision) of its
 * spec's `firewall` and the last push, kept in `<dataDir>/firewalls/<id>.json`
 * (beside the VM's record, not in it: a push may come before the prolog).
 * Tables are loaded before a QEMU starts (so a guest is never reachable
 * before its rules are in place — nftables matches the TAP by name), removed
 * when it ends, and every heartbeat reconciles the tables with the VMs, which
 * puts back what a restart or a failed load missed. One change at a time.
 */
export class VmFirewalls {
  /** The script each TAP's table was last loaded with by this process. */
  readonly #loaded = new Map<string, string>();
  #chain: Promise<unknown> = Promise.resolve();
  #warned = false;

  constructor(private readonly host: AgentHost) {}

  #file(id: string): string {
    checkVmId(id);
    return join(this.host.o.dataDir, 'firewalls', `${id}.json`);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** The firewall the VM must enforce here: the newer of the pushed one and its spec's. */
  async desired(id: string, spec: AgentVmSpec | undefined): Promise<VmFirewall | undefined> {
    const pushed = await readJsonFile(this.#file(id), vmFirewallSchema, 'VM firewall').catch((err: unknown) => {
      this.host.logger.error({ vmId: id, err: errorMessage(err) }, 'firewall record unusable: the spec\'s is used');
      return undefined;
    });
    return newerFirewall(pushed, spec?.firewall);
  }

  /**
   * The firewall route: keeps `input` unless a newer one is held, and loads
   * it on the VM's TAPs if its QEMU is here. Idempotent; an older revision
   * changes nothing (pushes may cross).
   */
  set(id: string, input: unknown, signal?: AbortSignal): Promise<VmFirewallReport> {
    const r = vmFirewallSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('VM firewall', zodIssues(r.error)));
    return this.#serial(async () => {
      const file = this.#file(id);
      const spec = await this.host.records.readSpec(id).catch(() => undefined);
      const held = await this.desired(id, spec);
      const keep = newerFirewall(held, r.data) ?? r.data;
      if (keep === r.data) {
        await mkdir(join(this.host.o.dataDir, 'firewalls'), { recursive: true });
        await writeFile(`${file}.tmp`, JSON.stringify(keep));
        await rename(`${file}.tmp`, file);
      }
      if (spec === undefined) return { revision: keep.revision, applied: false };
      const state = (await this.host.report(id, false)).state;
      if (!ALIVE.has(state)) return { revision: keep.revision, applied: false };
      await this.#enforce(id, spec, keep, signal);
      this.host.logger.info({ vmId: id, revision: keep.revision, rules: keep.rules?.length ?? null }, 'vm firewall set');
      return { revision: keep.revision, applied: true };
    });
  }

  /** Before the VM's QEMU starts here (boot, resume, a migration's destination): its tables, so that it starts behind them. */
  beforeStart(id: string, spec: AgentVmSpec, signal?: AbortSignal): Promise<void> {
    return this.#serial(async () => {
      const fw = await this.desired(id, spec);
      if (fw !== undefined) await this.#enforce(id, spec, fw, signal);
    });
  }

  /** After the VM's QEMU ended here: its tables go (by their exact names); `forget`: the VM left this host, its pushed firewall too. */
  afterEnd(id: string, forget: boolean, signal?: AbortSignal): Promise<void> {
    return this.#serial(async () => {
      const taps = new Set(allTaps(id));
      const loaded = [...this.#loaded.keys()].filter((t) => taps.has(t));
      // Only when this process loaded one, or a restart left one: a host without nftables is never asked.
      const present = loaded.length > 0 || (await this.desired(id, undefined)) !== undefined ? await this.#present(signal) : new Set<string>();
      const plan = planVmFirewalls([{ taps: [...taps], alive: false, rules: null }], this.#loaded, present);
      for (const t of plan.remove) await removeFirewallTable(t, this.host.o.netns, { signal, timeoutMs: NFT_MS });
      for (const t of taps) this.#loaded.delete(t);
      if (forget) await rm(this.#file(id), { force: true });
    });
  }

  /**
   * Every heartbeat: loads the tables live VMs lack (or have stale), removes
   * those of VMs no longer alive here, and says in each VM's report which
   * revision this host holds — the controller pushes again when it is older.
   */
  reconcile(reports: readonly AgentVmReport[], signal?: AbortSignal): Promise<AgentVmReport[]> {
    return this.#serial(async () => {
      const vms: FirewallVm[] = [];
      const out: AgentVmReport[] = [];
      for (const r of reports) {
        const spec = await this.host.records.readSpec(r.id).catch(() => undefined);
        const fw = await this.desired(r.id, spec);
        out.push(fw === undefined ? r : { ...r, firewallRevision: fw.revision });
        if (spec !== undefined) vms.push({ taps: tapsOf(r.id, spec), alive: ALIVE.has(r.state), rules: fw?.rules ?? null });
      }
      if (this.#loaded.size === 0 && !vms.some((v) => v.rules !== null)) return out;
      try {
        const plan = planVmFirewalls(vms, this.#loaded, await this.#present(signal));
        for (const [tap, script] of plan.apply) {
          await loadFirewallScript(script, this.host.o.netns, { signal, timeoutMs: NFT_MS });
          this.#loaded.set(tap, script);
        }
        for (const t of plan.remove) {
          await removeFirewallTable(t, this.host.o.netns, { signal, timeoutMs: NFT_MS });
          for (const [tap] of this.#loaded) if (firewallTableName(tap) === t) this.#loaded.delete(tap);
        }
        if (plan.apply.size + plan.remove.length > 0) this.host.logger.info({ loaded: [...plan.apply.keys()], removed: plan.remove }, 'vm firewalls reconciled');
      } catch (err) {
        // Logged once per run of failures: a host without nftables would say it every beat.
        if (!this.#warned) this.host.logger.error({ err: errorMessage(err) }, 'vm firewalls could not be reconciled');
        this.#warned = true;
        return out;
      }
      this.#warned = false;
      return out;
    });
  }

  async #present(signal: AbortSignal | undefined): Promise<Set<string>> {
    return listFirewallTables(this.host.o.netns, { signal, timeoutMs: NFT_MS });
  }

  async #enforce(id: string, spec: AgentVmSpec, fw: VmFirewall, signal: AbortSignal | undefined): Promise<void> {
    const taps = tapsOf(id, spec);
    // No bridged NIC: no TAP for rules to sit on, and none loaded by this process to take off (a table a restart left
    // goes with the heartbeat's reconcile). Not asking nft spares a process on the boot path of every EC2 instance
    // (each has a security group) whose NICs are on no network.
    const mine = new Set(allTaps(id));
    if (taps.length === 0 && ![...this.#loaded.keys()].some((t) => mine.has(t))) return;
    const present = await this.#present(signal);
    const plan = planVmFirewalls([{ taps, alive: true, rules: fw.rules }], new Map([...this.#loaded].filter(([t]) => taps.includes(t))), present);
    for (const [tap, script] of plan.apply) {
      await loadFirewallScript(script, this.host.o.netns, { signal, timeoutMs: NFT_MS });
      this.#loaded.set(tap, script);
    }
    for (const t of plan.remove) await removeFirewallTable(t, this.host.o.netns, { signal, timeoutMs: NFT_MS });
    if (fw.rules === null) for (const t of taps) this.#loaded.delete(t);
  }
}

/** The TAPs of the VM's bridged NICs on this host. */
function tapsOf(id: string, spec: AgentVmSpec): string[] {
  return spec.nics.flatMap((n, i) => (n.bridge === undefined ? [] : [tapName(id, n.index ?? i)]));
}

/** Every TAP name the VM could have (NIC indexes 0-7): what to look for when its spec is gone. */
function allTaps(id: string): string[] {
  return Array.from({ length: 8 }, (_, i) => tapName(id, i));
}
