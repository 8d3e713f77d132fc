import { InvalidArgumentError, Option, type Command } from 'commander';
import { LeaseClient } from '../../client/lease-client.js';
import type { CreateLeaseBody, LeaseView } from '../../contract/lease-schemas.js';
import { apiCommand, connect, connectionOptions, durationArg, intArg, type ApiOpts } from '../api-command.js';
import { dash, fmtMiB, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { sizeLimitArg } from './quota.js';
import { leaseGantt } from './lease-gantt.js';

async function connectLeases(o: ApiOpts): Promise<LeaseClient> {
  const c = await connect(o);
  return new LeaseClient(c.baseUrl, c.token);
}

/** `--start +90s` (from now), `+5m`, or an ISO 8601 date-time; as ISO text. */
export function startArg(value: string, now = Date.now()): string {
  const v = value.trim();
  if (v.startsWith('+')) return new Date(now + durationArg(v.slice(1)) * 1000).toISOString();
  const t = Date.parse(v);
  if (!/\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(t)) throw new InvalidArgumentError('expected +DURATION (e.g. +90s, +5m, +2h) or an ISO 8601 date-time such as 2026-01-31T12:00:00Z.');
  return new Date(t).toISOString();
}

const when = (iso: string | null): string => (iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
const hosts = (l: LeaseView): string => dash(l.plan.placements.map((p) => `${p.host}×${p.vms}`).join(',') || null);

function printLease(l: LeaseView): void {
  printFields([
    ['id', l.id], ['owner', l.owner], ['type', l.type], ['state', l.state], ['reason', dash(l.reason)], ['preemptible', String(l.preemptible)],
    ['start', when(l.start)], ['duration', `${l.durationS} s`], ['owed', `${l.remainingS} s`],
    ['vms', `${l.count} × ${l.vcpus} vCPU / ${fmtMiB(l.memoryMiB)} (${l.template})`], ['hosts', hosts(l)], ['pending step', dash(l.pendingStep)],
  ]);
  if (l.plan.segments.length > 0) {
    process.stdout.write('\nPLAN\n');
    printTable(['STEP', 'FROM', 'TO'], l.plan.segments.map((s) => [s.kind, when(s.from), when(s.to)]));
  }
  if (l.vms.length > 0) {
    process.stdout.write('\nVMS\n');
    printTable(['#', 'VM', 'HOST'], l.vms.map((v) => [v.index, v.vm, v.host]));
  }
}

interface CreateOpts extends ApiOpts {
  type: string;
  template: string;
  start?: string;
  duration: number;
  count?: number;
  vcpus?: number;
  memory?: number | 'unlimited';
  preemptible?: boolean;
}

/** `nubo lease create|list|show|cancel|timeline`. */
export function registerLeaseCommands(program: Command): void {
  const lease = program.command('lease').description(
    'capacity leases (after Haizea): N VMs for a duration — an advance reservation (ar) running from an exact start, ' +
    'best effort (be) queued and preemptible (suspended to disk when an AR needs its hosts, resumed after), or immediate; see docs/leases.md',
  );
  const create = apiCommand(lease, 'create', 'ask for a lease; admitted or refused at once (an AR only when its whole window can be guaranteed)')
    .addOption(new Option('--type <type>', 'ar: advance reservation; be: best effort; immediate: now or refused').choices(['ar', 'be', 'immediate']).makeOptionMandatory())
    .requiredOption('--template <template>', 'template of the VMs (name or id)')
    .requiredOption('--duration <duration>', 'how long the VMs run: 90s, 30m, 12h, 7d or seconds', durationArg)
    .option('--start <when>', 'advance reservations: +90s, +5m (from now) or an ISO 8601 date-time', (v) => startArg(v))
    .option('--count <n>', 'number of VMs (default 1)', intArg(1, 1000, 'VMs'))
    .option('--vcpus <n>', "vCPUs of each VM (default: the template's)", intArg(1, 64, 'vCPUs'))
    .option('--memory <size>', "memory of each VM, e.g. 256M (default: the template's)", sizeLimitArg)
    .option('--no-preemptible', 'best effort only: never suspend it for an AR (default: preemptible)');
  connectionOptions(create).action(
    runCliAction(async (signal, o: CreateOpts) => {
      if (o.type === 'ar' && o.start === undefined) throw new UsageError('BAD_FLAGS', 'an advance reservation (--type ar) needs --start');
      if (o.type !== 'ar' && o.start !== undefined) throw new UsageError('BAD_FLAGS', '--start is for advance reservations (--type ar) only');
      if (o.memory === 'unlimited') throw new UsageError('BAD_FLAG', '--memory takes a size, e.g. 256M');
      const body: CreateLeaseBody = {
        type: o.type as CreateLeaseBody['type'], template: o.template, durationS: o.duration,
        ...(o.start !== undefined ? { start: o.start } : {}), ...(o.count !== undefined ? { count: o.count } : {}),
        ...(o.vcpus !== undefined ? { vcpus: o.vcpus } : {}), ...(o.memory !== undefined ? { memoryMiB: o.memory } : {}),
        ...(o.type === 'be' ? { preemptible: o.preemptible !== false } : {}),
      };
      const l = await (await connectLeases(o)).create(body, { signal });
      if (o.json) return printJson(l);
      printLease(l);
    }),
  );
  connectionOptions(apiCommand(lease, 'list', 'the leases you may see, oldest first')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const ls = await (await connectLeases(o)).list({ signal });
      if (o.json) return printJson(ls);
      printTable(['ID', 'TYPE', 'STATE', 'VMS', 'START', 'DURATION', 'HOSTS', 'OWNER', 'REASON'], ls.map((l) => [l.id.slice(0, 8), l.type, l.state, l.count, when(l.start), `${l.durationS}s`, hosts(l), l.owner, dash(l.reason)]));
    }),
  );
  connectionOptions(apiCommand(lease, 'show <lease>', 'a lease (id or its first characters): state, reason, plan, VMs and timeline')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const l = await (await connectLeases(o)).get(ref, { signal });
      if (o.json) return printJson(l);
      printLease(l);
      process.stdout.write('\nTIMELINE\n');
      printTable(['AT', 'WHAT', 'STATE', 'DETAIL'], l.history.map((h) => [when(h.at), h.kind, scalar(h.detail['state']), dash([h.detail['step'], h.detail['reason'], h.detail['error']].map(scalar).filter((x) => x !== '').join(' ') || null)]));
    }),
  );
  connectionOptions(apiCommand(lease, 'cancel <lease>', 'cancel a lease: its VMs are terminated and its capacity freed')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const l = await (await connectLeases(o)).cancel(ref, { signal });
      if (o.json) return printJson(l);
      printLease(l);
    }),
  );
  connectionOptions(apiCommand(lease, 'timeline', 'a text Gantt chart of the planned leases: hosts × time')
    .option('--hours <h>', 'how far ahead to draw (default: until the last planned step)', intArg(1, 24 * 90, 'hours'))
    .option('--width <columns>', 'columns of the time axis', intArg(10, 400, 'columns'), 72), { json: false }).action(
    runCliAction(async (signal, o: ApiOpts & { hours?: number; width: number }) => {
      const ls = (await (await connectLeases(o)).list({ signal })).filter((l) => !['done', 'cancelled', 'failed', 'rejected'].includes(l.state));
      const now = Date.now();
      const last = Math.max(now + 60_000, ...ls.flatMap((l) => l.plan.segments.map((s) => Date.parse(s.to))));
      process.stdout.write(leaseGantt(ls, now, o.hours !== undefined ? now + o.hours * 3600_000 : last, o.width));
    }),
  );
}

/** A timeline detail's scalar as text; absent or structured values show as nothing. */
function scalar(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}
