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

/** KIND parsed by commander, so that a bad one is a usage error (exit 2) before anything is sent. */
const withKind = (c: Command): Command => c.argument('<kind>', KINDS.join(', '), kindArg);

const print = (shares: readonly ShareView[]): void => printTable(['GROUP', 'GROUP ID'], shares.map((s) => [s.group, s.groupId.slice(0, 8)]));

/** `nubo share add|remove|list <image|template|network> <ref> …`. */
export function registerShareCommands(program: Command): void {
  const share = program.command('share').description(
    'share an image, template or network with a group: its members may read and use it, never change it. The owner (or an admin) shares, with a group of theirs. ' +
    'An admin\'s image or template, and a network, is everyone\'s until shared: sharing narrows it to the groups',
  );
  connectionOptions(withKind(apiCommand(share, 'add', 'share KIND (image, template or network) REF with GROUP')).argument('<ref>').argument('<group>')).action(
    runCliAction(async (signal, kind: ShareResource, ref: string, group: string, o: ApiOpts) => {
      const s = await (await connectTenancy(o)).share(kind, ref, { group }, { signal });
      if (o.json) return printJson(s);
      print(s);
    }),
  );
  connectionOptions(withKind(apiCommand(share, 'remove', 'stop sharing KIND REF with GROUP')).argument('<ref>').argument('<group>')).action(
    runCliAction(async (signal, kind: ShareResource, ref: string, group: string, o: ApiOpts) => {
      const s = await (await connectTenancy(o)).unshare(kind, ref, group, { signal });
      if (o.json) return printJson(s);
      print(s);
    }),
  );
  connectionOptions(withKind(apiCommand(share, 'list', 'the groups KIND REF is shared with')).argument('<ref>')).action(
    runCliAction(async (signal, kind: ShareResource, ref: string, o: ApiOpts) => {
      const s = await (await connectTenancy(o)).listShares(kind, ref, { signal });
      if (o.json) return printJson(s);
      print(s);
    }),
  );
}
