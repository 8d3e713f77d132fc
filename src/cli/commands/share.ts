import { InvalidArgumentError, type Command } from 'commander';
import { SHARE_RESOURCES, type ShareResource, type ShareView } from '../../contract/share-schemas.js';
import { apiCommand, connectionOptions, type ApiOpts } from '../api-command.js';
import { printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { connectTenancy } from './user-admin.js';

const KINDS = ['image', 'template', 'network'] as const;

function kindArg(value: string): ShareResource {
  const i = (KINDS as readonly string[]).indexOf(value);
  if (i < 0) throw new InvalidArgumentError(`expected one of ${KINDS.join(', ')}.`);
  return SHARE_RESOURCES[i]!;
}

const print = (shares: readonly ShareView[]): void => printTable(['GROUP', 'GROUP ID'], shares.map((s) => [s.group, s.groupId.slice(0, 8)]));

/** `nubo share add|remove|list <image|template|network> <ref> …`. */
export function registerShareCommands(program: Command): void {
  const share = program.command('share').description(
    'share an image, template or network with a group: its members may read and use it, never change it. The owner (or an admin) shares, with a group of theirs. ' +
    'An admin\'s image or template, and a network, is everyone\'s until shared: sharing narrows it to the groups',
  );
  connectionOptions(apiCommand(share, 'add <kind> <ref> <group>', 'share KIND (image, template or network) REF with GROUP')).action(
    runCliAction(async (signal, kind: string, ref: string, group: string, o: ApiOpts) => {
      const s = await (await connectTenancy(o)).share(kindArg(kind), ref, { group }, { signal });
      if (o.json) return printJson(s);
      print(s);
    }),
  );
  connectionOptions(apiCommand(share, 'remove <kind> <ref> <group>', 'stop sharing KIND REF with GROUP')).action(
    runCliAction(async (signal, kind: string, ref: string, group: string, o: ApiOpts) => {
      const s = await (await connectTenancy(o)).unshare(kindArg(kind), ref, group, { signal });
      if (o.json) return printJson(s);
      print(s);
    }),
  );
  connectionOptions(apiCommand(share, 'list <kind> <ref>', 'the groups KIND REF is shared with')).action(
    runCliAction(async (signal, kind: string, ref: string, o: ApiOpts) => {
      const s = await (await connectTenancy(o)).listShares(kindArg(kind), ref, { signal });
      if (o.json) return printJson(s);
      print(s);
    }),
  );
}
