import type { Selectable, Transaction } from 'kysely';
import { z } from 'zod';
import { FENCE_METHODS, type Database, type FenceMethod, type FencingState, type HaRestartsTable, type HostFencingTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, toJson, type StoreContext } from '../store-context.js';
import { NotFoundError, StaleStateError } from '../store-errors.js';
import { validateInput } from '../validate-input.js';
import { moveUsage } from './usage-repository.js';

/** A host's fence configuration and where its fencing stands (no row: `none`, `ok`). */
export interface HostFencing {
  readonly hostId: string;
  readonly method: FenceMethod;
  /** `command`: the hook's argv; `lab`: the lab's directory. */
  readonly argv: readonly string[];
  readonly labDir: string | null;
  readonly timeoutMs: number;
  readonly state: FencingState;
  readonly incident: string | null;
  readonly suspectedAt: string | null;
  readonly fencingAt: string | null;
  readonly fencedAt: string | null;
  readonly recoveringAt: string | null;
  readonly recoveredAt: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly degraded: string | null;
}

export interface HaRestart {
  readonly id: number;
  readonly incident: string;
  readonly hostId: string;
  readonly vmId: string;
  readonly action: 'restart' | 'lost';
  readonly state: 'planned' | 'restarting' | 'done' | 'failed';
  readonly targetHostId: string | null;
  readonly reason: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const fenceConfigSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('none') }),
  z.strictObject({
    method: z.literal('command'),
    argv: z.array(z.string().min(1).max(4096)).min(1, 'needs the program to run').max(64),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  }),
  z.strictObject({ method: z.literal('lab'), labDir: z.string().min(1).max(4096), timeoutMs: z.number().int().min(100).max(600_000).default(30_000) }),
]);
export type FenceConfigInput = z.input<typeof fenceConfigSchema>;
export { FENCE_METHODS };

const STEP_TIME: Partial<Record<FencingState, 'suspected_at' | 'fencing_at' | 'fenced_at' | 'recovering_at' | 'recovered_at'>> = {
  suspected: 'suspected_at', fencing: 'fencing_at', fenced: 'fenced_at', recovering: 'recovering_at', recovered: 'recovered_at',
};

function none(hostId: string): HostFencing {
  return {
    hostId, method: 'none', argv: [], labDir: null, timeoutMs: 30_000, state: 'ok', incident: null, suspectedAt: null, fencingAt: null,
    fencedAt: null, recoveringAt: null, recoveredAt: null, attempts: 0, lastError: null, degraded: null,
  };
}

function toFencing(r: Selectable<HostFencingTable>): HostFencing {
  const c = fromJson<{ argv?: string[]; labDir?: string }>(r.config, {});
  return {
    hostId: r.host_id, method: r.method, argv: c.argv ?? [], labDir: c.labDir ?? null, timeoutMs: r.timeout_ms, state: r.state, incident: r.incident,
    suspectedAt: r.suspected_at, fencingAt: r.fencing_at, fencedAt: r.fenced_at, recoveringAt: r.recovering_at, recoveredAt: r.recovered_at,
    attempts: r.attempts, lastError: r.last_error, degraded: r.degraded,
  };
}

function toRestart(r: Selectable<HaRestartsTable>): HaRestart {
  return {
    id: Number(r.id), incident: r.incident, hostId: r.host_id, vmId: r.vm_id, action: r.action, state: r.state, targetHostId: r.target_host_id,
    reason: r.reason, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/**
 * High availability's records (migration 0012): the VMs' HA flag, each
 * host's fence configuration and fencing state, and the journal of an
 * incident's decisions. Every step of a fencing is a compare-and-set with a
 * `host.ha` event, written before the HA service acts on it.
 */
export class HaRepository {
  constructor(private readonly ctx: StoreContext) {}

  async setVmHa(vmId: string, enabled: boolean): Promise<void> {
    const now = this.ctx.now();
    await inTransaction(this.ctx, async (trx) => {
      const vm = await trx.selectFrom('vms').select('id').where('id', '=', vmId).executeTakeFirst();
      if (!vm) throw new NotFoundError('vm', vmId);
      await trx.insertInto('vm_ha').values({ vm_id: vmId, enabled: enabled ? 1 : 0, updated_at: now })
        .onConflict((oc) => oc.column('vm_id').doUpdateSet({ enabled: enabled ? 1 : 0, updated_at: now })).execute();
      await appendEvent(this.ctx, trx, { kind: 'vm.ha', resource: 'vm', resourceId: vmId, data: { ha: enabled } });
    });
  }

  /** The ids among `vmIds` with HA on. */
  async haVms(vmIds: readonly string[]): Promise<Set<string>> {
    if (vmIds.length === 0) return new Set();
    const rows = await this.ctx.db.selectFrom('vm_ha').select('vm_id').where('vm_id', 'in', [...vmIds]).where('enabled', '=', 1).execute();
    return new Set(rows.map((r) => r.vm_id));
  }

  async fencing(hostId: string): Promise<HostFencing> {
    const r = await this.ctx.db.selectFrom('host_fencing').selectAll().where('host_id', '=', hostId).executeTakeFirst();
    return r ? toFencing(r) : none(hostId);
  }

  async listFencing(): Promise<HostFencing[]> {
    return (await this.ctx.db.selectFrom('host_fencing').selectAll().orderBy('host_id').execute()).map(toFencing);
  }

  /** Sets how the host is fenced; its fencing state is kept. */
  async setFenceConfig(hostId: string, input: FenceConfigInput): Promise<HostFencing> {
    const c = validateInput('fence configuration', fenceConfigSchema, input);
    const config = c.method === 'command' ? { argv: c.argv } : c.method === 'lab' ? { labDir: c.labDir } : {};
    const timeoutMs = c.method === 'none' ? 30_000 : c.timeoutMs;
    const now = this.ctx.now();
    await inTransaction(this.ctx, async (trx) => {
      const host = await trx.selectFrom('hosts').select('id').where('id', '=', hostId).executeTakeFirst();
      if (!host) throw new NotFoundError('host', hostId);
      await trx.insertInto('host_fencing').values({ host_id: hostId, method: c.method, config: toJson(config), timeout_ms: timeoutMs, updated_at: now })
        .onConflict((oc) => oc.column('host_id').doUpdateSet({ method: c.method, config: toJson(config), timeout_ms: timeoutMs, updated_at: now })).execute();
      await appendEvent(this.ctx, trx, { kind: 'host.fence-config', resource: 'host', resourceId: hostId, data: { method: c.method } });
    });
    return this.fencing(hostId);
  }

  /** Records the host's health as it reports it (null: healthy); true when it changed. */
  async setDegraded(hostId: string, reason: string | null): Promise<boolean> {
    const cur = await this.fencing(hostId);
    if (cur.degraded === reason) return false;
    const now = this.ctx.now();
    await inTransaction(this.ctx, async (trx) => {
      await trx.insertInto('host_fencing').values({ host_id: hostId, degraded: reason, updated_at: now })
        .onConflict((oc) => oc.column('host_id').doUpdateSet({ degraded: reason, updated_at: now })).execute();
      // The host's own column is what placement reads (0021).
      await trx.updateTable('hosts').set({ degraded: reason }).where('id', '=', hostId).execute();
      await appendEvent(this.ctx, trx, { kind: 'host.health', resource: 'host', resourceId: hostId, data: { degraded: reason } });
    });
    return true;
  }

  /**
   * Moves the host's fencing from one of `from` to `to`, stamping the step's
   * time; `suspected` opens a new incident, `ok` closes it. Throws
   * StaleStateError (nothing written) when the state is not one of `from`.
   */
  async step(hostId: string, from: readonly FencingState[], to: FencingState, o: { error?: string | null; countAttempt?: boolean; also?: (trx: Transaction<Database>) => Promise<void> } = {}): Promise<HostFencing> {
    const now = this.ctx.now();
    await inTransaction(this.ctx, async (trx) => {
      const cur = await trx.selectFrom('host_fencing').selectAll().where('host_id', '=', hostId).executeTakeFirst();
      const state = cur?.state ?? 'ok';
      if (!from.includes(state)) throw new StaleStateError('host fencing', hostId, state, from, to);
      const stamp = STEP_TIME[to];
      const patch = {
        state: to,
        ...(stamp ? { [stamp]: now } : {}),
        ...(to === 'suspected' ? { incident: `${hostId}@${now}`, fencing_at: null, fenced_at: null, recovering_at: null, recovered_at: null, attempts: 0, last_error: null } : {}),
        ...(to === 'ok' ? { incident: null } : {}),
        ...(o.countAttempt ? { attempts: (cur?.attempts ?? 0) + 1 } : {}),
        ...(o.error !== undefined ? { last_error: o.error } : {}),
        updated_at: now,
      };
      if (cur) await trx.updateTable('host_fencing').set(patch).where('host_id', '=', hostId).execute();
      else await trx.insertInto('host_fencing').values({ host_id: hostId, ...patch }).execute();
      await o.also?.(trx);
      await appendEvent(this.ctx, trx, { kind: 'host.ha', resource: 'host', resourceId: hostId, data: { from: state, to, ...(o.error ? { error: o.error } : {}) } });
    });
    return this.fencing(hostId);
  }

  /** Journals an incident's decisions and moves the host to `recovering`, in one transaction: before any VM is touched. */
  async planRecovery(hostId: string, incident: string, decisions: readonly { vmId: string; action: 'restart' | 'lost'; targetHostId?: string; reason: string }[]): Promise<HostFencing> {
    const now = this.ctx.now();
    return this.step(hostId, ['fenced'], 'recovering', {
      also: async (trx) => {
        for (const d of decisions) {
          await trx.insertInto('ha_restarts').values({
            incident, host_id: hostId, vm_id: d.vmId, action: d.action, state: d.action === 'lost' ? 'done' : 'planned',
            target_host_id: d.targetHostId ?? null, reason: d.reason, created_at: now, updated_at: now,
          }).onConflict((oc) => oc.columns(['vm_id', 'incident']).doNothing()).execute();
        }
      },
    });
  }

  async restarts(filter: { incident?: string; hostId?: string; vmId?: string } = {}): Promise<HaRestart[]> {
    let q = this.ctx.db.selectFrom('ha_restarts').selectAll();
    if (filter.incident !== undefined) q = q.where('incident', '=', filter.incident);
    if (filter.hostId !== undefined) q = q.where('host_id', '=', filter.hostId);
    if (filter.vmId !== undefined) q = q.where('vm_id', '=', filter.vmId);
    return (await q.orderBy('id').execute()).map(toRestart);
  }

  async markRestart(id: number, state: HaRestart['state'], reason?: string): Promise<void> {
    await this.ctx.db.updateTable('ha_restarts').set({ state, updated_at: this.ctx.now(), ...(reason !== undefined ? { reason } : {}) }).where('id', '=', id).execute();
  }

  /**
   * The commit of one restart: the VM, still on the fenced host in one of
   * `from`, is bound to the target (its reservation moves with it: given
   * back on the fenced host, taken on the target even past its free room — the
   * guest runs there already), goes to `running`, and its journal row is done —
   * one transaction. StaleStateError when the VM moved on meanwhile.
   */
  async commitRestart(restart: HaRestart, from: readonly string[]): Promise<void> {
    const target = restart.targetHostId;
    if (target === null) throw new NotFoundError('restart target of', restart.vmId);
    const at = this.ctx.now();
    await inTransaction(this.ctx, async (trx) => {
      const vm = await trx.selectFrom('vms').selectAll().where('id', '=', restart.vmId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!vm) throw new NotFoundError('vm', restart.vmId);
      if (vm.host_id !== restart.hostId || !from.includes(vm.state)) throw new StaleStateError('vm', vm.id, vm.state, from, 'ha-restart');
      const held = { cpus: vm.reserved_cpus, memoryMib: Number(vm.reserved_memory_mib), diskMib: Number(vm.reserved_disk_mib) };
      await trx.updateTable('hosts').set((eb) => ({
        reserved_cpus: eb('reserved_cpus', '-', held.cpus), reserved_memory_mib: eb('reserved_memory_mib', '-', held.memoryMib), reserved_disk_mib: eb('reserved_disk_mib', '-', held.diskMib),
      })).where('id', '=', restart.hostId).execute();
      await trx.updateTable('hosts').set((eb) => ({
        reserved_cpus: eb('reserved_cpus', '+', held.cpus), reserved_memory_mib: eb('reserved_memory_mib', '+', held.memoryMib), reserved_disk_mib: eb('reserved_disk_mib', '+', held.diskMib),
      })).where('id', '=', target).execute();
      const version = vm.version + 1;
      await trx.updateTable('vms').set({ host_id: target, state: 'running', state_reason: null, operation: null, version, updated_at: at }).where('id', '=', vm.id).execute();
      await trx.updateTable('ha_restarts').set({ state: 'done', updated_at: at }).where('id', '=', restart.id).execute();
      await trx.insertInto('vm_history').values({ vm_id: vm.id, from_state: vm.state, to_state: 'running', action: 'ha-restart', reason: restart.reason, at }).execute();
      await moveUsage(trx, vm.id, 'running', at);
      await appendEvent(this.ctx, trx, { kind: 'vm.state', resource: 'vm', resourceId: vm.id, data: { from: vm.state, to: 'running', action: 'ha-restart', reason: restart.reason, version, hostId: target, fencedHostId: restart.hostId } });
    });
  }
}
