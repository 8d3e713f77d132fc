import { InvalidArgumentError, type Command } from 'commander';
import type { QuotaView, SetQuotaBody } from '../../contract/quota-schemas.js';
import { QUOTA_MEANING, type QuotaResource } from '../../core/quota/quota.js';
import { apiCommand, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, fmtMiB, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { connectTenancy } from './user-admin.js';

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, m: 1, mi: 1, mib: 1, g: 1024, gi: 1024, gib: 1024, t: 1024 ** 2, ti: 1024 ** 2, tib: 1024 ** 2 };

/** A limit as a flag gives it; commander takes a parser's null for "no value", so unlimited has a name of its own. */
export type LimitArg = number | 'unlimited';

/** `--memory 4G`: MiB by default, or M, G, T (binary: 1G = 1024 MiB); `unlimited` clears the limit. */
export function sizeLimitArg(value: string): LimitArg {
  if (value.trim() === 'unlimited') return 'unlimited';
  const m = /^(\d+)\s*([A-Za-z]*)$/.exec(value.trim());
  const factor = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  const n = m && factor !== undefined ? Number(m[1]) * factor : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a size like 512M, 4G or 1T (MiB when no unit is given), or "unlimited".');
  return n;
}

/** `--vms 3`: a whole number ≥ 0, or `unlimited`. */
export function countLimitArg(value: string): LimitArg {
  if (value.trim() === 'unlimited') return 'unlimited';
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number (0 or more), or "unlimited".');
  return n;
}

const isSize = (r: QuotaResource): boolean => r === 'memoryMiB' || r === 'diskMiB';
const amount = (r: QuotaResource, n: number): string => (isSize(r) ? fmtMiB(n) : String(n));

function printQuota(q: QuotaView): void {
  printFields([[q.subject.kind, q.subject.name]]);
  printTable(['RESOURCE', 'USED', 'LIMIT', 'USED%'], q.lines.map((l) => [l.resource, amount(l.resource, l.used), l.limit === null ? 'unlimited' : amount(l.resource, l.limit), dash(l.percent === null ? null : `${l.percent}%`)]));
  if (q.members !== undefined && q.members.length > 0) {
    process.stdout.write('\n');
    printTable(['MEMBER', 'VMS', 'VCPUS', 'MEMORY', 'DISK', 'VOLUMES', 'IMAGES'], q.members.map((m) => [m.name, m.usage.vms, m.usage.vcpus, fmtMiB(m.usage.memoryMiB), fmtMiB(m.usage.diskMiB), m.usage.volumes, m.usage.images]));
  }
}

interface SetOpts extends ApiOpts {
  user?: string;
  group?: string;
  vms?: LimitArg;
  vcpus?: LimitArg;
  memory?: LimitArg;
  disk?: LimitArg;
  volumes?: LimitArg;
  images?: LimitArg;
  leases?: LimitArg;
}

const limitOf = (a: LimitArg): number | null => (a === 'unlimited' ? null : a);

/** `nubo quota show|set`. */
export function registerQuotaCommands(program: Command): void {
  const quota = program.command('quota').description(
    'limits per user and per group (VMs, vCPUs, memory, disk, volumes, images, leases), checked when a resource is made; ' +
    'a group\'s limit caps the sum over its members, and a user in several groups counts in each',
  );
  connectionOptions(apiCommand(quota, 'show', 'show limits, usage and % used: yours, or a user\'s or group\'s you may see (a group\'s admins also see each member)')
    .option('--user <user>', 'a user (id or name)')
    .option('--group <group>', 'a group (id or name)')).action(
    runCliAction(async (signal, o: ApiOpts & { user?: string; group?: string }) => {
      if (o.user !== undefined && o.group !== undefined) throw new UsageError('BAD_FLAGS', 'give --user or --group, not both');
      const q = await (await connectTenancy(o)).getQuota({ user: o.user, group: o.group }, { signal });
      if (o.json) return printJson(q);
      printQuota(q);
    }),
  );
  const set = apiCommand(quota, 'set', 'set a user\'s or group\'s limits (admin); "unlimited" clears one, a flag not given keeps its limit')
    .option('--user <user>', 'the user (id or name)')
    .option('--group <group>', 'the group (id or name): its limits cap the sum over its members')
    .option('--vms <n>', `${QUOTA_MEANING.vms}`, countLimitArg)
    .option('--vcpus <n>', `${QUOTA_MEANING.vcpus}`, countLimitArg)
    .option('--memory <size>', 'memory of those VMs, e.g. 4G (MiB when no unit is given)', sizeLimitArg)
    .option('--disk <size>', 'disk of those VMs and of volumes, e.g. 100G', sizeLimitArg)
    .option('--volumes <n>', `${QUOTA_MEANING.volumes}`, countLimitArg)
    .option('--images <n>', `${QUOTA_MEANING.images}`, countLimitArg)
    .option('--leases <n>', `${QUOTA_MEANING.leases}`, countLimitArg);
  connectionOptions(set).action(
    runCliAction(async (signal, o: SetOpts) => {
      if ((o.user === undefined) === (o.group === undefined)) throw new UsageError('BAD_FLAGS', 'give exactly one of --user and --group');
      const body: SetQuotaBody = {
        ...(o.vms !== undefined ? { vms: limitOf(o.vms) } : {}),
        ...(o.vcpus !== undefined ? { vcpus: limitOf(o.vcpus) } : {}),
        ...(o.memory !== undefined ? { memoryMiB: limitOf(o.memory) } : {}),
        ...(o.disk !== undefined ? { diskMiB: limitOf(o.disk) } : {}),
        ...(o.volumes !== undefined ? { volumes: limitOf(o.volumes) } : {}),
        ...(o.images !== undefined ? { images: limitOf(o.images) } : {}),
        ...(o.leases !== undefined ? { leases: limitOf(o.leases) } : {}),
      };
      if (Object.keys(body).length === 0) throw new UsageError('NOTHING_TO_UPDATE', 'give at least one limit: --vms, --vcpus, --memory, --disk, --volumes, --images or --leases');
      const q = await (await connectTenancy(o)).setQuota(o.user !== undefined ? { user: o.user } : { group: o.group! }, body, { signal });
      if (o.json) return printJson(q);
      printQuota(q);
    }),
  );
}
