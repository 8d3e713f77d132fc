import { InvalidArgumentError, type Command } from 'commander';
import type { ScalingGroupView, SetScalingGroupBody } from '../../contract/scaling-group-schemas.js';
import { SCALING_METRICS, type ScalingMetric } from '../../core/autoscale/scaling-policy.js';
import { ElasticityClient } from '../../client/elasticity-client.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';

const num = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
};
const int = (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('expected a whole number (0 or more).');
  return Number(v);
};
const metricArg = (v: string): ScalingMetric => {
  if (!(SCALING_METRICS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected ${SCALING_METRICS.join(' or ')}.`);
  return v as ScalingMetric;
};

interface PolicyOpts extends ApiOpts {
  min?: number; max?: number; desired?: number;
  metric?: ScalingMetric; scaleOutAbove?: number; scaleInBelow?: number; stepOut?: number; stepIn?: number; cooldown?: number;
}

function sizeAndPolicyOptions(c: Command): Command {
  return c
    .option('--min <n>', 'fewest members', int)
    .option('--max <n>', 'most members (≤ 100)', int)
    .option('--desired <n>', 'members wanted now (default: min)', int)
    .option('--metric <metric>', 'cpu (members\' mean CPU use, % of their vCPUs) or custom (a value pushed with `scaling-group metric`)', metricArg)
    .option('--scale-out-above <x>', 'add members when the metric is above this', num)
    .option('--scale-in-below <x>', 'remove members when the metric is below this', num)
    .option('--step-out <n>', 'members added at a time (default 1)', int)
    .option('--step-in <n>', 'members removed at a time (default 1)', int)
    .option('--cooldown <s>', 'seconds without scaling after a change (default 60)', int);
}

async function client(o: ApiOpts): Promise<ElasticityClient> {
  const c = await connect(o);
  return new ElasticityClient(c.baseUrl, c.token);
}

function printGroup(g: ScalingGroupView): void {
  const p = g.policy;
  printFields([
    ['id', g.id], ['name', g.name], ['owner', g.owner], ['template', g.template], ['size', `min ${g.min}, desired ${g.desired}, max ${g.max}`],
    ['policy', `${p.metric}: out above ${p.scaleOutAbove} (+${p.stepOut}), in below ${p.scaleInBelow} (-${p.stepIn}), cooldown ${p.cooldownS} s`],
    ['metric', dash(g.metric === null ? null : Math.round(g.metric * 10) / 10)], ['last scaled', dash(g.lastScaleAt)],
  ]);
  if (g.members.length > 0) printTable(['MEMBER', 'STATE', 'VM STATE', 'CPU%', 'CREATED'], g.members.map((m) => [m.vm, m.state, dash(m.vmState), dash(m.cpu === null ? null : Math.round(m.cpu)), m.createdAt]));
}

/** `nubo scaling-group create|list|show|set|delete|history|metric` (`nubo group` is the user groups'). */
export function registerScalingGroupCommands(program: Command): void {
  const sg = program.command('scaling-group').description(
    'autoscaling groups: VMs from one template kept between min and max, grown and shrunk by a policy on the members\' CPU or a metric your application pushes',
  );
  connectionOptions(sizeAndPolicyOptions(apiCommand(sg, 'create', 'create a group; its first members are made at once').argument('<name>', 'group name (members are <name>-1, <name>-2 …)')
    .requiredOption('--template <template>', 'template of the member VMs'))
    .option('--user-data <text>', 'user-data for every member')).action(
    runCliAction(async (signal, name: string, o: PolicyOpts & { template: string; userData?: string }) => {
      if (o.min === undefined || o.max === undefined || o.metric === undefined || o.scaleOutAbove === undefined || o.scaleInBelow === undefined) {
        throw new UsageError('BAD_FLAGS', 'give --min, --max, --metric, --scale-out-above and --scale-in-below');
      }
      const g = await (await client(o)).createScalingGroup({
        name, template: o.template, min: o.min, max: o.max, ...(o.desired !== undefined ? { desired: o.desired } : {}),
        policy: { metric: o.metric, scaleOutAbove: o.scaleOutAbove, scaleInBelow: o.scaleInBelow, ...(o.stepOut !== undefined ? { stepOut: o.stepOut } : {}), ...(o.stepIn !== undefined ? { stepIn: o.stepIn } : {}), ...(o.cooldown !== undefined ? { cooldownS: o.cooldown } : {}) },
        ...(o.userData !== undefined ? { userData: o.userData } : {}),
      }, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
  connectionOptions(apiCommand(sg, 'list', 'your groups (an admin\'s: everyone\'s)')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const gs = await (await client(o)).listScalingGroups({ signal });
      if (o.json) return printJson(gs);
      printTable(['NAME', 'OWNER', 'TEMPLATE', 'MIN', 'DESIRED', 'MAX', 'MEMBERS', 'METRIC'], gs.map((g) => [g.name, g.owner, g.template, g.min, g.desired, g.max, g.members.length, `${g.policy.metric} ${dash(g.metric === null ? null : Math.round(g.metric))}`]));
    }),
  );
  connectionOptions(apiCommand(sg, 'show', 'a group, its members and its metric').argument('<group>', 'name or id')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const g = await (await client(o)).getScalingGroup(ref, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
  connectionOptions(sizeAndPolicyOptions(apiCommand(sg, 'set', 'change sizes or policy (flags not given keep their value)').argument('<group>', 'name or id'))).action(
    runCliAction(async (signal, ref: string, o: PolicyOpts) => {
      const policy = {
        ...(o.metric !== undefined ? { metric: o.metric } : {}), ...(o.scaleOutAbove !== undefined ? { scaleOutAbove: o.scaleOutAbove } : {}),
        ...(o.scaleInBelow !== undefined ? { scaleInBelow: o.scaleInBelow } : {}), ...(o.stepOut !== undefined ? { stepOut: o.stepOut } : {}),
        ...(o.stepIn !== undefined ? { stepIn: o.stepIn } : {}), ...(o.cooldown !== undefined ? { cooldownS: o.cooldown } : {}),
      };
      const body: SetScalingGroupBody = {
        ...(o.min !== undefined ? { min: o.min } : {}), ...(o.max !== undefined ? { max: o.max } : {}), ...(o.desired !== undefined ? { desired: o.desired } : {}),
        ...(Object.keys(policy).length > 0 ? { policy } : {}),
      };
      if (Object.keys(body).length === 0) throw new UsageError('NOTHING_TO_UPDATE', 'give at least one of --min, --max, --desired or a policy flag');
      const g = await (await client(o)).setScalingGroup(ref, body, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
  connectionOptions(apiCommand(sg, 'delete', 'delete a group and terminate its members').argument('<group>', 'name or id')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      await (await client(o)).deleteScalingGroup(ref, { signal });
      if (!o.json) process.stdout.write(`deleted ${ref}; its members are being terminated\n`);
    }),
  );
  connectionOptions(apiCommand(sg, 'history', 'what the group decided and did, newest first').argument('<group>', 'name or id')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const h = await (await client(o)).scalingHistory(ref, { signal });
      if (o.json) return printJson(h);
      printTable(['AT', 'KIND', 'DESIRED', 'WHAT'], h.map((e) => [e.at, e.kind, e.desiredTo === null ? '-' : `${e.desiredFrom ?? '-'} → ${e.desiredTo}`, e.message]));
    }),
  );
  connectionOptions(apiCommand(sg, 'metric', 'push the application\'s value for a group with --metric custom').argument('<group>', 'name or id').argument('<value>', 'a number', num)).action(
    runCliAction(async (signal, ref: string, value: number, o: ApiOpts) => {
      const g = await (await client(o)).pushScalingMetric(ref, value, { signal });
      if (o.json) return printJson(g);
      process.stdout.write(`${g.name}: custom metric ${value}\n`);
    }),
  );
}
