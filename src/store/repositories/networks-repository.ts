import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../../network/ipv4.js';
import type { LeasesTable, NetworksTable } from '../schema.js';
import { fromJson, inTransaction, mapUniqueViolation, toJson, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';

export interface Network {
  readonly id: string;
  readonly name: string;
  readonly cidr: string;
  readonly gateway: string | null;
  readonly dns: readonly string[];
  /** 802.1Q tag, or null for an untagged network. */
  readonly vlan: number | null;
  readonly createdAt: string;
  /** The host bridge its NICs' TAPs join (`br0` on lab hosts). */
  readonly bridge: string;
  /** The cluster whose hosts carry it; null: every cluster. */
  readonly cluster: string | null;
}

const ipv4 = z.string().refine((s) => parseIpv4(s) !== undefined, 'not an IPv4 address');
const createSchema = z.object({
  name: fields.name,
  cidr: z.string().min(9).max(18),
  gateway: ipv4.nullable().default(null),
  dns: z.array(ipv4).max(8).default([]),
  vlan: z.number().int().min(1).max(4094).nullable().default(null),
  bridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a Linux interface name: 1-15 letters, digits, _ . -').default('br0'),
  /** The part of the subnet handed out as leases; default every host address. */
  range: z.object({ first: ipv4, last: ipv4 }).optional(),
  /** Bound to this cluster (it must exist): only its hosts carry the network. */
  cluster: fields.name.nullable().default(null),
});
export type CreateNetworkInput = z.input<typeof createSchema>;

/** Largest subnet whose addresses are materialised as lease rows (a /16). */
const MIN_PREFIX = 16;
const INSERT_BATCH = 500;

/** One MAC per address, 52:54:00 + the low three octets: stable, so a VM keeps its MAC with its address. */
export function macForAddress(n: number): string {
  return ['52', '54', '00', ...[16, 8, 0].map((s) => (Math.floor(n / 2 ** s) % 256).toString(16).padStart(2, '0'))].join(':');
}

function toNetwork(r: NetworksTable): Network {
  return { id: r.id, name: r.name, cidr: r.cidr, gateway: r.gateway, dns: fromJson<string[]>(r.dns, []), vlan: r.vlan, createdAt: r.created_at, bridge: r.bridge, cluster: r.cluster };
}

/** The addresses to lease: the range (default all host addresses) minus the gateway. Throws ValidationError naming the field. */
function leaseAddresses(v: z.output<typeof createSchema>): number[] {
  const issues: FieldIssue[] = [];
  const c = parseCidr(v.cidr);
  if (!c || c.prefix < MIN_PREFIX || c.prefix > 30) {
    throw new ValidationError('network', [{ field: 'cidr', message: `an IPv4 subnet from /${MIN_PREFIX} to /30` }]);
  }
  const size = 2 ** (32 - c.prefix);
  if (c.address % size !== 0) issues.push({ field: 'cidr', message: `host bits set: the subnet is ${formatIpv4(c.address - (c.address % size))}/${c.prefix}` });
  const base = c.address - (c.address % size);
  const inside = (n: number): boolean => n > base && n < base + size - 1;
  const gw = v.gateway === null ? undefined : parseIpv4(v.gateway);
  if (gw !== undefined && !inside(gw)) issues.push({ field: 'gateway', message: 'not a host address of the subnet' });
  const first = v.range ? parseIpv4(v.range.first)! : base + 1;
  const last = v.range ? parseIpv4(v.range.last)! : base + size - 2;
  if (!inside(first)) issues.push({ field: 'range.first', message: 'not a host address of the subnet' });
  if (!inside(last) || last < first) issues.push({ field: 'range.last', message: 'not a host address of the subnet at or after range.first' });
  if (issues.length > 0) throw new ValidationError('network', issues);
  const out: number[] = [];
  for (let n = first; n <= last; n++) if (n !== gw) out.push(n);
  if (out.length === 0) throw new ValidationError('network', [{ field: 'range', message: 'no address left to lease' }]);
  return out;
}

export class NetworksRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Creates the network and one free lease per address of its range, in one transaction. */
  async create(input: CreateNetworkInput): Promise<Network> {
    const v = validateInput('network', createSchema, input);
    const addresses = leaseAddresses(v);
    const at = this.ctx.now();
    const row: NetworksTable = { id: randomUUID(), name: v.name, cidr: v.cidr, gateway: v.gateway, dns: toJson(v.dns), vlan: v.vlan, created_at: at, bridge: v.bridge, cluster: v.cluster };
    const base = parseCidr(v.cidr)!.address;
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        if (row.cluster !== null && !(await trx.selectFrom('clusters').select('id').where('name', '=', row.cluster).executeTakeFirst())) {
          throw new ValidationError('network', [{ field: 'cluster', message: `no cluster ${row.cluster}` }]);
        }
        await trx.insertInto('networks').values(row).execute();
        for (let i = 0; i < addresses.length; i += INSERT_BATCH) {
          const batch: LeasesTable[] = addresses.slice(i, i + INSERT_BATCH).map((n) => ({
            network_id: row.id,
            address: formatIpv4(n),
            ordinal: n - base,
            mac: macForAddress(n),
            vm_id: null,
            state: 'free',
            updated_at: at,
          }));
          await trx.insertInto('leases').values(batch).execute();
        }
      }),
      (cause) => new ConflictError('network', 'name', v.name, 'already exists', { cause }),
    );
    return toNetwork(row);
  }

  async get(id: string): Promise<Network> {
    const r = await this.ctx.db.selectFrom('networks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('network', id);
    return toNetwork(r);
  }

  async list(): Promise<Network[]> {
    const rows = await this.ctx.db.selectFrom('networks').selectAll().orderBy('name').execute();
    return rows.map(toNetwork);
  }

  /** Deletes the network and its leases; refused (ConflictError) while any address is leased to a VM. */
  async delete(id: string): Promise<void> {
    await inTransaction(this.ctx, async (trx) => {
      const n = await trx
        .selectFrom('networks')
        .select('id')
        .where('id', '=', id)
        .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!n) throw new NotFoundError('network', id);
      const used = await trx
        .selectFrom('leases')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('network_id', '=', id)
        .where('state', '=', 'leased')
        .executeTakeFirstOrThrow();
      if (Number(used.n) > 0) throw new ConflictError('network', 'id', id, `still has ${used.n} leased addresses`);
      await trx.deleteFrom('networks').where('id', '=', id).execute();
    });
  }
}
