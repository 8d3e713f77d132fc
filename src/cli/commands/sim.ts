import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { compileSimConfig } from '../../sim/sim-config.js';
import { loadWorkload } from '../../sim/load-workload.js';
import { simulate } from '../../sim/simulate.js';
import type { SimMetrics } from '../../sim/sim-metrics.js';
import { printFields, printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';

interface RunOpts {
  trace: string;
  injections?: string;
  config?: string;
  hosts?: number;
  json?: boolean;
}

function hostsArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError('expected a whole number of hosts from 1 to 100000.');
  return n;
}

const fmt = (v: number | null, digits = 0): string => (v === null ? '-' : v.toFixed(digits));

/** `nubo sim run`: the lease scheduler over a trace on a virtual clock (no controller, no QEMU). */
export function registerSimCommands(program: Command): void {
  const sim = program.command('sim').description('the lease scheduler on a virtual clock: trace-driven simulation (no controller needed)');
  sim
    .command('run')
    .description('run the lease scheduler over a workload trace and print its metrics')
    .requiredOption('--trace <file>', 'the workload: .swf (Standard Workload Format), LWF XML, or one-line ARs')
    .option('--injections <file>', 'advance reservations to add, in the one-line format (Haizea\'s injected-30days/*.lwf)')
    .option('--config <file>', 'JSON: {"hosts": {"count", "cpus", "memoryMiB"}, "rates": {…}, "policies": {…}} (see docs/leases.md)')
    .option('--hosts <n>', 'hosts of 1 CPU and 1024 MiB, for a trace without a site (overrides the config\'s hosts)', hostsArg)
    .option('--json', 'print the metrics as JSON')
    .addHelpText(
      'after',
      `
Metrics: all-best-effort (trace start to the end of the last best-effort
lease), mean wait, mean bounded slowdown (run time floor 10 s), utilization,
preemptions (suspensions), migrations (a suspended lease's state moved to
other hosts) and hand-offs (resumed on other hosts from shared storage,
rates "suspendTo": "shared"), ARs accepted and rejected, and leases an AR
requeued to start over or cancelled because they could not be
suspended (policies suspension none, unsuspendable requeue|cancel).

Example (the HPDC 2008 setting):
  nubo sim run --trace test/fixtures/haizea/blue-30days.swf \\
    --injections test/fixtures/haizea/injected-30days/work_10-dur_3h-size_2medium.lwf \\
    --config sim.json     # {"hosts":{"count":144},"rates":{"suspendMiBps":50,"resumeMiBps":50}}`,
    )
    .action(
      runCliAction(async (signal, o: RunOpts) => {
        let raw: unknown = {};
        if (o.config !== undefined) {
          try {
            raw = JSON.parse(await readFile(o.config, { encoding: 'utf8', signal }));
          } catch (err) {
            throw new UsageError('BAD_INPUT_FILE', `--config ${o.config}: ${(err as Error).message}`, { path: o.config });
          }
        }
        if (o.hosts !== undefined) raw = { ...(raw as object), hosts: { count: o.hosts } };
        const config = compileSimConfig(raw);
        const workload = await loadWorkload(o.trace, o.injections, signal).catch((err: unknown) => {
          // A file that cannot be read (ENOENT, EACCES …); a malformed one is the reader's ValidationError, naming the line.
          if (/^E[A-Z]+$/.test(String((err as NodeJS.ErrnoException).code))) throw new UsageError('BAD_INPUT_FILE', (err as Error).message, {});
          throw err;
        });
        if (config.hosts === undefined && workload.hosts === undefined) throw new UsageError('BAD_FLAGS', 'this trace describes no site: give --hosts <n> or hosts in --config', {});
        const started = performance.now();
        const r = simulate(workload, config);
        const wallS = (performance.now() - started) / 1000;
        if (o.json) return printJson({ metrics: r.metrics, wallS, rejections: r.rejections });
        printMetrics(r.metrics, wallS);
      }),
    );
}

function printMetrics(m: SimMetrics, wallS: number): void {
  printFields([
    ['leases', `${m.leases} (${m.bestEffort} best effort, ${m.arsAccepted} ARs accepted, ${m.arsRejected} rejected)`],
    ['all-best-effort', `${fmt(m.allBestEffortS)} s`],
    ['mean wait', `${fmt(m.meanWaitS)} s`],
    ['mean bounded slowdown', fmt(m.meanBoundedSlowdown, 2)],
    ['utilization', `${(m.utilization * 100).toFixed(1)} %`],
    ['preemptions', m.preemptions],
    ['migrations', m.migrations],
    ['hand-offs (shared storage)', m.handoffs],
    ['requeued (not suspendable)', m.requeues],
    ['cancelled (not suspendable)', m.cancelled],
    ['unfinished', m.unfinished],
    ['simulated / wall', `${fmt(m.simulatedS)} s in ${wallS.toFixed(2)} s (${fmt(m.simulatedS / Math.max(wallS, 1e-6))}×)`],
  ]);
}
