import { InvalidArgumentError, Option, type Command } from 'commander';
import type { z } from 'zod';
import type { migrationPolicyBody } from '../../contract/migration-schemas.js';
import { DEFAULT_MIGRATION_POLICY, migrationPolicySchema } from '../../core/migration/migration-policy.js';
import { RemoteError } from '../../client/remote-error.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { shortId } from '../migration-format.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { WaitFailedError } from '../wait-for-vm.js';
import { migrationFailure, waitForMigration } from '../wait-for-migration.js';
import { printMigrationSummary, printMigrations } from './migration-output.js';
import { printDryRun } from './migration-prediction-output.js';

interface MigrateOpts extends ApiOpts {
  to?: string;
  cloud?: string;
  start?: boolean;
  bandwidth?: number;
  downtime?: number;
  maxDowntime?: number;
  /** false only with --no-auto-converge (commander's default for a --no- flag is true). */
  autoConverge: boolean;
  xbzrle?: boolean;
  postcopy?: boolean;
  migrationTimeout?: number;
  wait?: boolean;
  dryRun?: boolean;
  force?: boolean;
  priority?: number;
  timeout?: number;
  pollInterval: number;
}

/** The defaults and limits are the controller's own (core's policy schema), so that the help and the checks here stay true to it. */
const DEFAULTS = DEFAULT_MIGRATION_POLICY;

/** Which flag sets a request field a refusal names, so that the message points at the command line. */
const FLAG_OF: Readonly<Record<string, string>> = {
  to: '--to',
  force: '--force',
  id: 'the VM argument',
  maxBandwidthMiBps: '--bandwidth',
  downtimeMs: '--downtime',
  maxDowntimeMs: '--max-downtime',
  autoConverge: '--no-auto-converge',
  xbzrle: '--xbzrle',
  postcopy: '--postcopy',
  timeoutS: '--migration-timeout',
};

/** A parser for a numeric policy flag, checked against the controller's own limits before anything is sent. */
function policyArg(field: 'maxBandwidthMiBps' | 'downtimeMs' | 'maxDowntimeMs' | 'timeoutS'): (value: string) => number {
  const schema = migrationPolicySchema.shape[field];
  return (value: string) => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    const r = schema.safeParse(n);
    if (!r.success) throw new InvalidArgumentError(`${r.error.issues[0]?.message ?? 'is invalid'}.`);
    return n;
  };
}

function priorityArg(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || n < -100 || n > 100) throw new InvalidArgumentError('expected a whole number from -100 to 100.');
  return n;
}

/** The policy fields the flags set; the others are left to the controller's defaults. */
function policyOf(o: MigrateOpts): z.input<typeof migrationPolicyBody> {
  if (o.downtime !== undefined && o.maxDowntime !== undefined && o.maxDowntime < o.downtime) {
    throw new UsageError('BAD_FLAGS', `--max-downtime ${o.maxDowntime} is below --downtime ${o.downtime}: the limit starts at --downtime and rises to at most --max-downtime`, { flag: '--max-downtime' });
  }
  return {
    ...(o.bandwidth !== undefined ? { maxBandwidthMiBps: o.bandwidth } : {}),
    ...(o.downtime !== undefined ? { downtimeMs: o.downtime } : {}),
    ...(o.maxDowntime !== undefined ? { maxDowntimeMs: o.maxDowntime } : {}),
    ...(o.autoConverge === false ? { autoConverge: false } : {}),
    ...(o.xbzrle === true ? { xbzrle: true } : {}),
    ...(o.postcopy === true ? { postcopy: true } : {}),
    ...(o.migrationTimeout !== undefined ? { timeoutS: o.migrationTimeout } : {}),
  };
}

/** A refusal names the pre-check and the request field; say which flag that is. */
function explainRefusal(err: unknown): unknown {
  if (!(err instanceof RemoteError) || err.code !== 'MIGRATION_REFUSED') return err;
  const check = err.details['check'];
  const field = err.details['field'];
  if (typeof check !== 'string' && typeof field !== 'string') return err;
  const key = typeof field === 'string' ? field.replace(/^policy\./, '') : undefined;
  const flag = key !== undefined ? FLAG_OF[key] : undefined;
  const about = [typeof check === 'string' ? `check: ${check}` : undefined, typeof field === 'string' ? `field: ${field}${flag !== undefined ? ` (${flag})` : ''}` : undefined].filter((x) => x !== undefined);
  return new RemoteError(err.status, err.code, `${err.message} [${about.join('; ')}]`, { ...err.details });
}

/** `nubo vm migrate <vm>`: live or cold migration to another host (admins), or cold between a local host and a remote cloud (`--cloud`). */
export function registerVmMigrate(vm: Command): void {
  const c = apiCommand(vm, 'migrate <vm>', 'migrate a VM to another host (admins): a running VM live (it keeps running, with a short pause at the end); a powered-off or suspended one cold (its disk and saved memory are copied and it stays powered off or suspended); with --cloud, a powered-off VM between a local host and a remote cloud')
    .option('--to <host>', 'destination host, by name or id (default: the scheduler picks one by the placement rules)')
    .option('--cloud <name>', 'migrate a powered-off VM between clouds (cold): a registered cloud\'s name moves it from its local host there; `local` brings it back from its cloud (to --to, or a host the placement rules choose)')
    .option('--start', 'with --cloud: start the VM where it arrives (default: it arrives powered off)')
    .option('--bandwidth <MiB/s>', `maximum bandwidth of the migration stream and disk copies (default: ${DEFAULTS.maxBandwidthMiBps})`, policyArg('maxBandwidthMiBps'))
    .option('--downtime <ms>', `longest pause allowed for the final stop-and-copy, to begin with (default: ${DEFAULTS.downtimeMs})`, policyArg('downtimeMs'))
    .option('--max-downtime <ms>', `the convergence policy raises that allowance step by step up to this (default: ${DEFAULTS.maxDowntimeMs}, or --downtime if higher)`, policyArg('maxDowntimeMs'))
    .option('--no-auto-converge', `do not throttle the guest's CPUs when it dirties memory faster than it is sent (default: ${DEFAULTS.autoConverge ? 'throttle' : 'do not'})`)
    .option('--xbzrle', `compress re-sent pages with XBZRLE (default: ${DEFAULTS.xbzrle ? 'on' : 'off'})`)
    .option('--postcopy', `allow switching to post-copy when pre-copy does not converge, where the hosts support it (default: ${DEFAULTS.postcopy ? 'on' : 'off'})`)
    .option('--migration-timeout <s>', `abort the migration (back to the source) if it has not ended after this many seconds (default: ${DEFAULTS.timeoutS})`, policyArg('timeoutS'))
    .option('--force', 'with --to: migrate there even though the host does not meet the VM\'s placement requirements (every other check still applies)')
    .option('--priority <n>', 'queue order, from -100 to 100: higher starts first, then first come (default: 0)', priorityArg)
    .option('--dry-run', 'only run the pre-checks and show the planner\'s prediction (total time, downtime, from the dirty rate measured now and the link bandwidth of past migrations); nothing is queued or changed')
    .option('--wait', 'follow the migration to its end with a progress bar on stderr; exit 1 if it fails or is aborted')
    .option('--timeout <seconds>', 'with --wait: give up waiting after this many seconds (default: the migration timeout + 60)', intArg(1, 86_400, 'seconds'))
    .addOption(new Option('--poll-interval <ms>').argParser(intArg(10, 60_000, 'milliseconds')).default(500).hideHelp());
  connectionOptions(c)
    .addHelpText(
      'after',
      `
Without --to the destination meets the VM's placement requirements; a --to host
that does not is refused (409, check \`requirements\`) unless --force is given.
The migration is queued (state \`queued\`) and starts when the per-host limits
of the controller allow (migrations at once per host, bandwidth budget);
highest --priority first, then first come. \`nubo migration cancel <id>\` takes a
queued one out of the queue.
Without --wait the command prints the migration as it starts and returns; follow
it with \`nubo migration show <id>\`. With --wait it shows the stage, the share of
RAM sent (the disk copy while mirroring non-shared disks), the dirty rate, the
passes and the throughput, then a summary; for a cold migration, the share of the
VM's files copied and the throughput (--bandwidth and --migration-timeout apply;
the downtime, convergence and post-copy flags only concern live migrations).
Ctrl-C (exit 130) or --timeout only stop the waiting: the migration goes on;
\`nubo migration cancel <id>\` stops it.

With --cloud the VM (powered off) moves between a local host and a remote cloud
registered with \`nubo cloud add\` (with --s3-endpoint and --image-bucket):
  nubo vm migrate web-1 --cloud burst-1 --wait     out: disk exported, uploaded, registered, launched
  nubo vm migrate web-1 --cloud local --to h1       back: CreateImage, ExportImage, downloaded, placed
Each side's copy is checked by sha256; the local copy is released only once the
remote instance is confirmed, the remote one only once the VM is placed locally.
A refusal by the cloud rolls the migration back (the VM stays where it was).
Follow it with \`nubo vm show <vm>\` (its state reason) or --wait.`,
    )
    .action(
      runCliAction(async (signal, ref: string, o: MigrateOpts) => {
        if (o.cloud !== undefined) return migrateBetweenClouds(signal, ref, o);
        if (o.start === true) throw new UsageError('BAD_FLAGS', '--start applies to a migration between clouds: give --cloud as well', { flag: '--start' });
        const policy = policyOf(o);
        if (o.force === true && o.to === undefined) throw new UsageError('BAD_FLAGS', '--force overrides the requirements for an explicit destination: give --to as well', { flag: '--force' });
        const body = {
          ...(o.to !== undefined ? { to: o.to } : {}), ...(o.force === true ? { force: true } : {}),
          ...(Object.keys(policy).length > 0 ? { policy } : {}), ...(o.priority !== undefined ? { priority: o.priority } : {}),
        };
        const client = await connect(o);
        if (o.dryRun) {
          if (o.wait) throw new UsageError('BAD_FLAGS', '--dry-run starts nothing to wait for: give one of --dry-run and --wait', { flag: '--dry-run' });
          const d = await client.dryRunMigration(ref, body, { signal }).catch((err: unknown) => {
            throw explainRefusal(err);
          });
          return o.json ? printJson(d) : printDryRun(d);
        }
        const started = await client.migrateVm(ref, body, { signal }).catch((err: unknown) => {
          throw explainRefusal(err);
        });
        if (!o.wait) {
          if (o.json) return printJson(started);
          printMigrations([started]);
          process.stderr.write(`follow it: nubo migration show ${shortId(started.id)}   (or start it with --wait)\n`);
          return;
        }
        const timeoutS = o.timeout ?? (o.migrationTimeout ?? DEFAULTS.timeoutS) + 60;
        const done = await waitForMigration({ client, initial: started, signal, timeoutMs: timeoutS * 1000, intervalMs: o.pollInterval });
        if (o.json) printJson(done);
        else if (done.state === 'succeeded') printMigrationSummary(done);
        if (done.state !== 'succeeded') throw migrationFailure(done);
      }),
    );
}

/** `--cloud`: a migration between a local host and a remote cloud; with --wait, followed until it ends (exit 1 if it failed). */
async function migrateBetweenClouds(signal: AbortSignal, ref: string, o: MigrateOpts): Promise<void> {
  for (const [flag, set] of [['--dry-run', o.dryRun], ['--force', o.force], ['--priority', o.priority !== undefined], ['--bandwidth', o.bandwidth !== undefined], ['--migration-timeout', o.migrationTimeout !== undefined]] as const) {
    if (set === true) throw new UsageError('BAD_FLAGS', `${flag} does not apply to a migration between clouds (--cloud)`, { flag });
  }
  if (o.to !== undefined && o.cloud !== 'local') throw new UsageError('BAD_FLAGS', '--to names a local host: give it with --cloud local (back from a cloud)', { flag: '--to' });
  const client = await connect(o);
  let m = await client.migrateVmCloud(ref, { cloud: o.cloud!, ...(o.to !== undefined ? { to: o.to } : {}), ...(o.start === true ? { start: true } : {}) }, { signal });
  const line = (): string => `${m.vm}: ${m.direction === 'out' ? 'to' : 'back from'} cloud ${m.cloud} (generation ${m.generation}): ${m.step}${m.error !== null ? `: ${m.error}` : ''}`;
  if (!o.wait) {
    if (o.json) return printJson(m);
    process.stdout.write(`${line()}\nfollow it: nubo vm show ${m.vm}   (or start it with --wait)\n`);
    return;
  }
  const until = Date.now() + (o.timeout ?? 3_600) * 1000;
  let said = '';
  while (m.step !== 'done' && m.step !== 'failed') {
    if (line() !== said) process.stderr.write(`${(said = line())}\n`);
    if (Date.now() > until) throw new TimeoutError(`waiting for the migration of ${m.vm} between clouds to end (it is at ${m.step}; it goes on)`, (o.timeout ?? 3_600) * 1000);
    await new Promise((r) => setTimeout(r, o.pollInterval));
    signal.throwIfAborted();
    m = await client.getCloudMigration(m.vmId, { signal });
  }
  if (o.json) printJson(m);
  else process.stdout.write(`${line()}${m.sha256 !== null ? `\n  disk sha256 ${m.sha256}` : ''}${m.backSha256 !== null ? `\n  back sha256 ${m.backSha256}` : ''}\n`);
  if (m.step === 'failed') throw new WaitFailedError('MIGRATION_FAILED', `the migration of ${m.vm} ${m.direction === 'out' ? 'to' : 'back from'} cloud ${m.cloud} failed and was rolled back: ${m.error ?? 'no reason given'}`, { step: m.step, error: m.error });
}
