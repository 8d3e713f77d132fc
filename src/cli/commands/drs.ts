import { InvalidArgumentError, type Command } from 'commander';
import type { DrsAppliedView, DrsPlanView, DrsPolicyBody } from '../../contract/drs-schemas.js';
import { DRS_MODES, type DrsMode } from '../../core/drs/drs-policy.js';
import { ElasticityClient } from '../../client/elasticity-client.js';
import { pollUntil } from '../../util/deadline.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

interface PolicyOpts extends ApiOpts {
  mode?: DrsMode;
  threshold?: number;
  hysteresis?: number;
  maxMoves?: number;
  minMinutes?: number;
  maxHostUse?: number;
}

const num = (what: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number (${what}).`);
  return n;
};
const modeArg = (v: string): DrsMode => {
  if (!(DRS_MODES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected ${DRS_MODES.join(' or ')}.`);
  return v as DrsMode;
};

function policyOptions(c: Command): Command {
  return c
    .option('--mode <mode>', 'balance (lower the imbalance) or consolidate (empty hosts and put them on standby)', modeArg)
    .option('--threshold <σ>', 'balance down to this imbalance, 0..1 (σ of host CPU/memory use)', num('0..1'))
    .option('--hysteresis <σ>', 'plan only above threshold + this margin', num('0..1'))
    .option('--max-moves <n>', 'at most this many live migrations in one plan', num('a whole number'))
    .option('--min-minutes <m>', 'never move a VM again within this many minutes', num('minutes'))
    .option('--max-host-use <share>', 'consolidate: fill destinations up to this share of CPU and memory', num('0.05..1'));
}

function policyOf(o: PolicyOpts): DrsPolicyBody {
  return {
    ...(o.mode !== undefined ? { mode: o.mode } : {}), ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
    ...(o.hysteresis !== undefined ? { hysteresis: o.hysteresis } : {}), ...(o.maxMoves !== undefined ? { maxMoves: o.maxMoves } : {}),
    ...(o.minMinutes !== undefined ? { minMinutesBetweenMoves: o.minMinutes } : {}), ...(o.maxHostUse !== undefined ? { maxHostUse: o.maxHostUse } : {}),
  };
}

async function client(o: ApiOpts): Promise<ElasticityClient> {
  const c = await connect(o);
  return new ElasticityClient(c.baseUrl, c.token);
}

function printPlan(p: DrsPlanView): void {
  process.stdout.write(`${p.summary}\n`);
  printFields([['mode', p.mode], ['imbalance', `${p.imbalanceBefore.toFixed(3)} → ${p.imbalanceAfter.toFixed(3)}`]]);
  if (p.moves.length > 0) printTable(['#', 'VM', 'FROM', 'TO', 'WHY'], p.moves.map((m, i) => [i + 1, m.vm, m.from, m.to, m.reason]));
  for (const s of p.standby) process.stdout.write(`standby after the moves: ${s.host} (${s.reason})\n`);
  for (const h of p.held) process.stdout.write(`held: ${h.vm} ${h.reason}\n`);
}

function printApplied(p: DrsAppliedView): void {
  printFields([['plan', p.id], ['state', p.state], ['mode', p.mode], ['trigger', p.trigger], ['summary', p.summary], ...(p.message !== null ? [['result', p.message] as const] : [])]);
  if (p.moves.length > 0) printTable(['#', 'VM', 'FROM', 'TO', 'STATE', 'MIGRATION', 'NOTE'], p.moves.map((m) => [m.seq + 1, m.vm, m.from, m.to, m.state, m.migrationId ?? '-', m.message ?? m.reason]));
}

/** `nubo drs plan|apply|show|list|enable|disable|config|wake` (admin). */
export function registerDrsCommands(program: Command): void {
  const drs = program.command('drs').description(
    'the rebalancer (admin): plans live migrations that even out the hosts\' CPU and memory use (balance), or that empty hosts to put them on standby (consolidate); off by default — see docs/drs.md',
  );
  connectionOptions(policyOptions(apiCommand(drs, 'plan', 'print the plan for the cluster now, each move and why (nothing is changed); flags override the configured policy for this plan'))).action(
    runCliAction(async (signal, o: PolicyOpts) => {
      const p = await (await client(o)).drsPlan(policyOf(o), { signal });
      if (o.json) return printJson(p);
      printPlan(p);
    }),
  );
  connectionOptions(policyOptions(apiCommand(drs, 'apply', 'journal the plan and run its moves as live migrations one at a time; waits for the end unless --no-wait'))
    .option('--no-wait', 'answer once the plan is journaled')).action(
    runCliAction(async (signal, o: PolicyOpts & { wait: boolean }) => {
      const c = await client(o);
      let p = await c.drsApply(policyOf(o), { signal });
      if (o.wait && p.state === 'applying') {
        p = await pollUntil('the DRS plan', async () => {
          const now = await c.drsApplied(p.id, { signal });
          return now.state === 'applying' ? undefined : now;
        }, { timeoutMs: 60 * 60_000, intervalMs: 1000, signal });
      }
      if (o.json) return printJson(p);
      printApplied(p);
    }),
  );
  connectionOptions(apiCommand(drs, 'show', 'an applied plan and the state of each move').argument('<plan>', 'plan id')).action(
    runCliAction(async (signal, id: string, o: ApiOpts) => {
      const p = await (await client(o)).drsApplied(id, { signal });
      if (o.json) return printJson(p);
      printApplied(p);
    }),
  );
  connectionOptions(apiCommand(drs, 'list', 'applied plans, newest first')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const ps = await (await client(o)).drsPlans({ signal });
      if (o.json) return printJson(ps);
      printTable(['PLAN', 'CREATED', 'TRIGGER', 'MODE', 'STATE', 'MOVES', 'RESULT'], ps.map((p) => [p.id, p.createdAt, p.trigger, p.mode, p.state, p.moves.length, p.message ?? '-']));
    }),
  );
  connectionOptions(policyOptions(apiCommand(drs, 'enable', 'run the rebalancer periodically (and keep the policy flags given)'))
    .option('--interval <s>', 'seconds between rounds (10..86400)', num('seconds'))).action(
    runCliAction(async (signal, o: PolicyOpts & { interval?: number }) => {
      const c = await (await client(o)).setDrsConfig({ enabled: true, ...(o.interval !== undefined ? { intervalS: o.interval } : {}), policy: policyOf(o) }, { signal });
      if (o.json) return printJson(c);
      printFields([['enabled', String(c.enabled)], ['interval', `${c.intervalS} s`], ['policy', JSON.stringify(c.policy)]]);
    }),
  );
  connectionOptions(apiCommand(drs, 'disable', 'stop the periodic rebalancer (a plan being applied finishes)')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const c = await (await client(o)).setDrsConfig({ enabled: false }, { signal });
      if (o.json) return printJson(c);
      printFields([['enabled', String(c.enabled)], ['interval', `${c.intervalS} s`]]);
    }),
  );
  connectionOptions(apiCommand(drs, 'config', 'the periodic rebalancer\'s switch, interval and policy')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const c = await (await client(o)).drsConfig({ signal });
      if (o.json) return printJson(c);
      printFields([['enabled', String(c.enabled)], ['interval', `${c.intervalS} s`], ['policy', JSON.stringify(c.policy)]]);
    }),
  );
  connectionOptions(apiCommand(drs, 'wake', 'take a host off standby').argument('<host>', 'host name or id')).action(
    runCliAction(async (signal, host: string, o: ApiOpts) => {
      await (await client(o)).drsWake(host, { signal });
      if (!o.json) process.stdout.write(`${host} takes VMs again\n`);
    }),
  );
}
