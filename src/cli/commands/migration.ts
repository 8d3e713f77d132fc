import { Option, type Command } from 'commander';
import type { NuboClient } from '../../client/nubo-client.js';
import { RemoteError } from '../../client/remote-error.js';
import type { MigrationView } from '../../contract/migration-schemas.js';
import { ALL_MIGRATION_STAGES, MIGRATION_STAGE_DESCRIPTIONS } from '../../core/migration/migration-stage.js';
import { COLD_MIGRATION_STAGES } from '../../core/migration/cold-migration-stage.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { route, shortId } from '../migration-format.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { printMigrationDetail, printMigrations } from './migration-output.js';

const STATES = ['running', 'succeeded', 'failed', 'aborted'] as const satisfies readonly MigrationView['state'][];

/**
 * Calls `byId(ref)`; when the controller knows no such id, `ref` may be the
 * short id the tables show: the one migration whose id starts with it.
 */
async function byIdOrPrefix<T>(client: NuboClient, ref: string, byId: (id: string) => Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return await byId(ref);
  } catch (err) {
    if (!(err instanceof RemoteError) || err.status !== 404 || ref.length < 4) throw err;
    const matches = (await client.listMigrations({}, { signal })).filter((m) => m.id.startsWith(ref) && m.id !== ref);
    if (matches.length === 1) return byId(matches[0]!.id);
    if (matches.length > 1) {
      throw new UsageError('AMBIGUOUS_MIGRATION_ID', `${ref} is the start of ${matches.length} migration ids (${matches.map((m) => m.id).join(', ')}); give more of it`, { ref });
    }
    throw err;
  }
}

const stageList = ALL_MIGRATION_STAGES.map((s) => `  ${s.padEnd(15)}${MIGRATION_STAGE_DESCRIPTIONS[s]}`).join('\n');

/** `nubo migration list|show|cancel`: watching and stopping live migrations (start one with `nubo vm migrate`). */
export function registerMigrationCommands(program: Command): void {
  const migration = program
    .command('migration')
    .description('migrations (live, and cold for powered-off or suspended VMs): list, show, cancel (start one with `nubo vm migrate`)')
    .addHelpText('after', `\nCold migration stages: ${COLD_MIGRATION_STAGES.join(' → ')} (aborting is the roll-back).\n` +
      `Live migration stages, in order (mirroring only for non-shared disks; aborting is the roll-back, aborted its end):\n${stageList}`);

  const list = apiCommand(migration, 'list', 'list migrations, oldest first')
    .option('--vm <vm>', 'only migrations of this VM (name or id)')
    .addOption(new Option('--state <state>', 'only migrations in this state').choices(STATES));
  connectionOptions(list).action(
    runCliAction(async (signal, o: ApiOpts & { vm?: string; state?: MigrationView['state'] }) => {
      const filter = { ...(o.vm !== undefined ? { vm: o.vm } : {}), ...(o.state !== undefined ? { state: o.state } : {}) };
      const ms = await (await connect(o)).listMigrations(filter, { signal });
      if (o.json) return printJson(ms);
      printMigrations(ms);
    }),
  );

  connectionOptions(apiCommand(migration, 'show <id>', 'show one migration (full or short id): its journal of stages, numbers, policy and reason')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const m = await byIdOrPrefix(client, ref, (id) => client.getMigration(id, { signal }), signal);
      if (o.json) return printJson(m);
      printMigrationDetail(m);
    }),
  );

  connectionOptions(
    apiCommand(migration, 'cancel <id>', 'stop a running migration before its commit (admins): it rolls back and the VM stays on its source'),
  ).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const m = await byIdOrPrefix(client, ref, (id) => client.cancelMigration(id, { signal }), signal);
      if (o.json) return printJson(m);
      process.stdout.write(`migration ${shortId(m.id)} of ${m.vm} (${route(m)}): cancel requested at ${m.stage}; it rolls back to ${m.source} — \`nubo migration show ${shortId(m.id)}\` follows it\n`);
    }),
  );
}
