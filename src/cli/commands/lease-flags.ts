import { InvalidArgumentError } from 'commander';

/** `kind=name` (repeatable) for `nubo controller --lease-policy`: the capacity leases' policies by name (checked by the controller, which names the known ones). */
export function leasePolicyArg(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([A-Za-z]+)=([a-z0-9-]+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected KIND=NAME, e.g. backfilling=conservative or migration=yes (docs/leases.md lists them).');
  return { ...previous, [m[1]!]: m[2]! };
}

/** `name=value` (repeatable) for `nubo controller --lease-rate`: an enactment rate (a number), switch (true/false) or `suspendTo=local|shared`. */
export function leaseRateArg(value: string, previous: Record<string, number | boolean | string> = {}): Record<string, number | boolean | string> {
  const m = /^([A-Za-z]+)=(.+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected NAME=VALUE, e.g. bootS=20, migrateDisk=false or suspendTo=shared (docs/leases.md lists them).');
  const raw = m[2]!.trim();
  // The one named setting: checked (with its choices) by the controller's compileLeaseRates.
  if (m[1] === 'suspendTo') return { ...previous, suspendTo: raw };
  const v = raw === 'true' ? true : raw === 'false' ? false : Number(raw);
  if (typeof v === 'number' && !Number.isFinite(v)) throw new InvalidArgumentError(`${m[1]}: expected a number, true or false (got ${raw}).`);
  return { ...previous, [m[1]!]: v };
}
