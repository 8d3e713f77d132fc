import { ValidationError, type FieldIssue } from '../errors/validation-error.js';
import { compileLeasePolicies, type LeasePolicies } from '../core/leases/lease-policies.js';
import { compileLeaseRates, type LeaseRates } from '../core/leases/lease-rates.js';
import type { HostCapacity } from '../core/leases/slot-table.js';
import { QUOTA_RESOURCES, type QuotaLimits } from '../core/quota/quota.js';

/** A simulation's settings: the site (unless the trace brings one), the rates and the policies. */
export interface SimConfig {
  readonly hosts?: readonly HostCapacity[];
  readonly rates: LeaseRates;
  readonly policies: LeasePolicies;
  /** Limits by owner (`"*"`: everyone without an entry of their own), for the quota-aware admission policy. */
  readonly quotas?: Readonly<Record<string, QuotaLimits>>;
}

/**
 * Checks a configuration as a file gives it —
 * `{ "hosts": { "count": 144, "cpus": 1, "memoryMiB": 1024 }, "rates": {…}, "policies": {…} }` —
 * and resolves names and defaults; a bad field is a ValidationError naming it.
 */
export function compileSimConfig(raw: unknown): SimConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ValidationError('simulation config', [{ field: '(root)', message: 'must be a JSON object' }]);
  const o = raw as Record<string, unknown>;
  const issues: FieldIssue[] = [];
  for (const k of Object.keys(o)) if (!['hosts', 'rates', 'policies', 'quotas'].includes(k)) issues.push({ field: k, message: 'unknown setting (known: hosts, rates, policies, quotas)' });
  let quotas: Record<string, QuotaLimits> | undefined;
  if (o['quotas'] !== undefined) {
    const q = o['quotas'];
    if (typeof q !== 'object' || q === null || Array.isArray(q)) issues.push({ field: 'quotas', message: 'must be a JSON object of owner → limits' });
    else {
      quotas = {};
      for (const [owner, lim] of Object.entries(q as Record<string, unknown>)) {
        if (typeof lim !== 'object' || lim === null || Array.isArray(lim)) {
          issues.push({ field: `quotas.${owner}`, message: 'must be a JSON object of resource → limit' });
          continue;
        }
        for (const [r, v] of Object.entries(lim as Record<string, unknown>)) {
          if (!(QUOTA_RESOURCES as readonly string[]).includes(r)) issues.push({ field: `quotas.${owner}.${r}`, message: `unknown resource (known: ${QUOTA_RESOURCES.join(', ')})` });
          else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) issues.push({ field: `quotas.${owner}.${r}`, message: `must be a whole number ≥ 0 (got ${JSON.stringify(v)})` });
        }
        quotas[owner] = lim;
      }
    }
  }
  let hosts: HostCapacity[] | undefined;
  if (o['hosts'] !== undefined) {
    const h = o['hosts'] as Record<string, unknown>;
    const count = h['count'];
    const cpus = h['cpus'] ?? 1;
    const memoryMiB = h['memoryMiB'] ?? 1024;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 100_000) issues.push({ field: 'hosts.count', message: `must be a whole number from 1 to 100000 (got ${JSON.stringify(count)})` });
    if (typeof cpus !== 'number' || !(cpus > 0)) issues.push({ field: 'hosts.cpus', message: `must be a number above 0 (got ${JSON.stringify(cpus)})` });
    if (typeof memoryMiB !== 'number' || !(memoryMiB > 0)) issues.push({ field: 'hosts.memoryMiB', message: `must be a number above 0 (got ${JSON.stringify(memoryMiB)})` });
    if (issues.length === 0) hosts = Array.from({ length: count as number }, () => ({ cpus: cpus as number, memoryMiB: memoryMiB as number }));
  }
  for (const k of ['rates', 'policies']) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) issues.push({ field: k, message: 'must be a JSON object' });
  }
  if (issues.length > 0) throw new ValidationError('simulation config', issues);
  const rates = compileLeaseRates((o['rates'] ?? {}));
  const policies = compileLeasePolicies((o['policies'] ?? {}));
  return { ...(hosts !== undefined ? { hosts } : {}), rates, policies, ...(quotas !== undefined ? { quotas } : {}) };
}
