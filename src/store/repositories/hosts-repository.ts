import type { Selectable } from 'kysely';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { HOST_STATES, type HostState, type HostsTable } from '../schema.js';
import { maintenanceOf, type HostMaintenance } from './host-maintenance.js';
import { appendEvent, fromJson, inTransaction, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError, type Resources } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { MAX_CPU_OVERCOMMIT } from '../../core/placement/placement-policy.js';

export interface Host {
  readonly id: string;
  readonly name: string;
  readonly agentUrl: string;
  readonly agentToken: string;
  readonly state: HostState;
  readonly cpuModel: string;
  readonly cpuFlags: readonly string[];
  readonly total: Resources;
  readonly reserved: Resources;
  /** total − reserved (negative when a re-registered host shrank below its reservations). */
  readonly free: Resources;
  /** The monitoring data of the last heartbeat, as the agent sent it. */
  readonly usage: JsonObject | null;
  readonly lastHeartbeatAt: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: string;
  /** vCPUs per physical CPU on this host; null: the placement policy's default. */
  readonly cpuOvercommit: number | null;
  /** Set while the host is (going) in maintenance: it takes no new VMs (0011). */
  readonly maintenance: HostMaintenance | null;
  /** Since when the rebalancer's consolidation keeps it on standby; null: it takes VMs. */
  readonly standbySince: string | null;
  /** Why its own health check fails (proactive HA: its VMs are moved away, it takes none); null: healthy. */
  readonly degraded: string | null;
  /** The name of its cluster (`default` unless an admin put it in another: `clusters.addHost`). */
  readonly cluster: string;
}

/** One host's heartbeat as `recordHeartbeats` writes it. */
export interface HeartbeatRecord {
  readonly id: string;
  /** When it was heard; absent: now, by the store's clock, as it is written. */
  readonly at?: Date | undefined;
  /** The monitoring data; absent: unchanged, not written. */
  readonly usage?: JsonObject | undefined;
}

const cpuOvercommitSchema = z.number().positive().max(MAX_CPU_OVERCOMMIT).nullable();

const registerSchema = z.object({
  name: fields.name,
  agentUrl: z.url({ protocol: /^https?$/ }),
  agentToken: z.string().min(1).max(1024),
  cpuModel: z.string().max(256).default(''),
  cpuFlags: z.array(z.string().min(1).max(64)).max(1024).default([]),
  totalCpus: fields.count,
  totalMemoryMib: fields.mib,
  totalDiskMib: fields.mib,
  labels: z.record(z.string().min(1).max(128), z.string().max(1024)).default({}),
  /** Applies to a new host only: an agent that registers again keeps what an admin set. */
  cpuOvercommit: cpuOvercommitSchema.default(null),
});
export type RegisterHostInput = z.input<typeof registerSchema>;

const usageSchema = fields.jsonObject;
const stateSchema = z.enum(HOST_STATES);

export function toHost(r: Selectable<HostsTable>): Host {
  const total = { cpus: r.total_cpus, memoryMib: Number(r.total_memory_mib), diskMib: Number(r.total_disk_mib) };
  const reserved = { cpus: r.reserved_cpus, memoryMib: Number(r.reserved_memory_mib), diskMib: Number(r.reserved_disk_mib) };
  return {
    id: r.id,
    name: r.name,
    agentUrl: r.agent_url,
    agentToken: r.agent_token,
    state: r.state,
    cpuModel: r.cpu_model,
    cpuFlags: fromJson<string[]>(r.cpu_flags, []),
    total,
    reserved,
    free: { cpus: total.cpus - reserved.cpus, memoryMib: total.memoryMib - reserved.memoryMib, diskMib: total.diskMib - reserved.diskMib },
    usage: fromJson<JsonObject | null>(r.usage, null),
    lastHeartbeatAt: r.last_heartbeat_at,
    labels: fromJson<Record<string, string>>(r.labels, {}),
    createdAt: r.created_at,
    cpuOvercommit: r.cpu_overcommit,
    maintenance: maintenanceOf(r),
    standbySince: r.standby_since,
    degraded: r.degraded,
    cluster: r.cluster,
  };
}

export class HostsRepository {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Registers a host, or updates the one with this name (an agent that
   * restarted, or was upgraded with more memory). A new host starts `init`;
   * an existing one keeps its id, state and reservations.
   */
  async register(input: RegisterHostInput): Promise<Host> {
    const v = validateInput('host', registerSchema, input);
    const described = {
      agent_url: v.agentUrl,
      agent_token: v.agentToken,
      cpu_model: v.cpuModel,
      cpu_flags: toJson(v.cpuFlags),
      total_cpus: v.totalCpus,
      total_memory_mib: v.totalMemoryMib,
      total_disk_mib: v.totalDiskMib,
      labels: toJson(v.labels),
    };
    return inTransaction(this.ctx, async (trx) => {
      const before = await trx.selectFrom('hosts').select('agent_url').where('name', '=', v.name).executeTakeFirst();
      const row = await trx
        .insertInto('hosts')
        .values({
          id: randomUUID(),
          name: v.name,
          state: 'init',
          reserved_cpus: 0,
          reserved_memory_mib: 0,
          reserved_disk_mib: 0,
          usage: null,
          last_heartbeat_at: null,
          created_at: this.ctx.now(),
          cpu_overcommit: v.cpuOvercommit,
          ...described,
        })
        .onConflict((oc) => oc.column('name').doUpdateSet(described))
        .returningAll()
        .executeTakeFirstOrThrow();
      // Every heartbeat re-registers its host: only a new host or a moved agent is news (capacity is in the host record, not the stream).
      if (before?.agent_url !== row.agent_url) await appendEvent(this.ctx, trx, { kind: 'host.registered', resource: 'host', resourceId: row.id, data: { name: row.name } });
      return toHost(row);
    });
  }

  /**
   * Forgets a host. Refused (ConflictError) while a VM that is not terminated or
   * a volume is on it, or a migration record names it (the migration history
   * would lose an end: disable the host instead). Terminated VMs that still name
   * it as their last host lose that reference; its datastores go with it.
   */
  async delete(id: string): Promise<Host> {
    return inTransaction(this.ctx, async (trx) => {
      const row = await trx.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new NotFoundError('host', id);
      const refusal = (reason: string): ConflictError => new ConflictError('host', 'name', row.name, reason);
      const vms = await trx.selectFrom('vms').select('name').where('host_id', '=', id).where('state', '!=', 'terminated').orderBy('name').execute();
      if (vms.length > 0) throw refusal(`still has ${vms.length} VM${vms.length === 1 ? '' : 's'} (${vms.map((v) => v.name).join(', ')}): migrate or terminate them first`);
      const volumes = await trx.selectFrom('volumes').select('name').where('host_id', '=', id).orderBy('name').execute();
      if (volumes.length > 0) throw refusal(`still holds volume${volumes.length === 1 ? '' : 's'} ${volumes.map((v) => v.name).join(', ')}`);
      const migrations = await trx.selectFrom('migrations').select('id').where((eb) => eb.or([eb('source_host_id', '=', id), eb('dest_host_id', '=', id)])).execute();
      if (migrations.length > 0) throw refusal(`is named by ${migrations.length} migration record${migrations.length === 1 ? '' : 's'}; disable it instead`);
      await trx.updateTable('vms').set({ host_id: null }).where('host_id', '=', id).execute();
      await trx.deleteFrom('datastores').where('host_id', '=', id).execute();
      await trx.deleteFrom('hosts').where('id', '=', id).execute();
      await appendEvent(this.ctx, trx, { kind: 'host.deleted', resource: 'host', resourceId: id, data: { name: row.name } });
      return toHost(row);
    });
  }

  async get(id: string): Promise<Host> {
    const r = await this.ctx.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('host', id);
    return toHost(r);
  }

  async findByName(name: string): Promise<Host | undefined> {
    const r = await this.ctx.db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toHost(r);
  }

  async list(filter: { state?: HostState | undefined } = {}): Promise<Host[]> {
    const rows = await this.ctx.db
      .selectFrom('hosts')
      .selectAll()
      .$if(filter.state !== undefined, (q) => q.where('state', '=', filter.state!))
      .orderBy('name')
      .execute();
    return rows.map(toHost);
  }

  /** Moves the host to `state` and records a `host.state` event (with the previous state). */
  async setState(id: string, state: HostState, reason?: string): Promise<Host> {
    const to = validateInput('host state', stateSchema, state);
    return inTransaction(this.ctx, async (trx) => {
      const before = await trx
        .selectFrom('hosts')
        .select('state')
        .where('id', '=', id)
        .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!before) throw new NotFoundError('host', id);
      const row = await trx.updateTable('hosts').set({ state: to }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      if (before.state !== to) {
        await appendEvent(this.ctx, trx, {
          kind: 'host.state',
          resource: 'host',
          resourceId: id,
          data: { from: before.state, to, reason: reason ?? null },
        });
      }
      return toHost(row);
    });
  }

  /** Sets the host's CPU overcommit (null: back to the policy's default) and records a `host.updated` event. */
  async setCpuOvercommit(id: string, cpuOvercommit: number | null): Promise<Host> {
    const v = validateInput('host', z.object({ cpuOvercommit: cpuOvercommitSchema }), { cpuOvercommit });
    return inTransaction(this.ctx, async (trx) => {
      const row = await trx.updateTable('hosts').set({ cpu_overcommit: v.cpuOvercommit }).where('id', '=', id).returningAll().executeTakeFirst();
      if (!row) throw new NotFoundError('host', id);
      await appendEvent(this.ctx, trx, { kind: 'host.updated', resource: 'host', resourceId: id, data: { cpuOvercommit: v.cpuOvercommit } });
      return toHost(row);
    });
  }

  /**
   * Many hosts' heartbeats in one write (controller/heartbeat-recorder.ts
   * gathers them): each host's time, and its monitoring data where given
   * (absent: the stored data stays — an agent's unchanged data is not written
   * again). Several records of one host are one: the latest time, the latest
   * data given. One statement per 500 hosts, all in one transaction: one
   * commit where a thousand beating hosts made 200 a second. A host deleted
   * meanwhile is skipped. Answers the ids of the hosts written.
   */
  async recordHeartbeats(beats: readonly HeartbeatRecord[]): Promise<Set<string>> {
    const byId = new Map<string, { id: string; at: string; usage: string | undefined }>();
    const now = this.ctx.now();
    for (const b of beats) {
      const usage = b.usage === undefined ? undefined : toJson(validateInput('heartbeat', usageSchema, b.usage));
      const at = b.at?.toISOString() ?? now;
      const had = byId.get(b.id);
      byId.set(b.id, had === undefined ? { id: b.id, at, usage } : { id: b.id, at: at > had.at ? at : had.at, usage: usage ?? had.usage });
    }
    const written = new Set<string>();
    if (byId.size === 0) return written;
    // In id order, so that two writers locking several host rows (PostgreSQL) take them in the same order.
    const rows = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    await inTransaction(this.ctx, async (trx) => {
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500);
        const withUsage = chunk.filter((r) => r.usage !== undefined);
        const at = sql<string>`case id ${sql.join(chunk.map((r) => sql`when ${r.id} then ${r.at}`), sql` `)} end`;
        const usage = withUsage.length === 0 ? sql<string | null>`usage` : sql<string | null>`case id ${sql.join(withUsage.map((r) => sql`when ${r.id} then ${r.usage!}`), sql` `)} else usage end`;
        const done = await trx.updateTable('hosts').set({ last_heartbeat_at: at, usage }).where('id', 'in', chunk.map((c) => c.id)).returning('id').execute();
        for (const d of done) written.add(d.id);
      }
    });
    return written;
  }

  /**
   * The enabled hosts last heard before `before` (never heard: created
   * before it), for the silence check: only what it needs, of only the hosts
   * that may be silent — every 5 s it read and parsed the whole fleet, and a
   * fleet that beats has none to read.
   */
  async heardBefore(before: Date): Promise<{ id: string; name: string; lastHeartbeatAt: string | null; createdAt: string }[]> {
    const t = before.toISOString();
    const rows = await this.ctx.db
      .selectFrom('hosts')
      .select(['id', 'name', 'last_heartbeat_at', 'created_at'])
      .where('state', '=', 'enabled')
      .where((eb) => eb.or([eb('last_heartbeat_at', '<', t), eb.and([eb('last_heartbeat_at', 'is', null), eb('created_at', '<', t)])]))
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, lastHeartbeatAt: r.last_heartbeat_at, createdAt: r.created_at }));
  }

  /**
   * Stores the monitoring data of a heartbeat. Not an event: heartbeats are
   * too frequent for the stream. Writes the two columns and reads nothing back
   * (a thousand hosts beat 200 times a second: the whole row returned and
   * parsed each time was work no caller used).
   */
  async recordHeartbeat(id: string, usage: JsonObject, at: Date = new Date(this.ctx.now())): Promise<void> {
    const u = validateInput('heartbeat', usageSchema, usage);
    const r = await this.ctx.db
      .updateTable('hosts')
      .set({ usage: toJson(u), last_heartbeat_at: at.toISOString() })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new NotFoundError('host', id);
  }
}
