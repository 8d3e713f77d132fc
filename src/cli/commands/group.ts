import type { Command } from 'commander';
import type { GroupView } from '../../contract/group-schemas.js';
import { apiCommand, connectionOptions, type ApiOpts } from '../api-command.js';
import { fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { connectTenancy } from './user-admin.js';

function printGroup(g: GroupView): void {
  printFields([['id', g.id], ['name', g.name], ['created', fmtTime(g.createdAt)], ['members', g.members.length]]);
  if (g.members.length > 0) printTable(['MEMBER', 'ADMIN'], g.members.map((m) => [m.name, m.admin ? 'yes' : 'no']));
}

/** `nubo group create|list|show|delete|add-member|remove-member`. */
export function registerGroupCommands(program: Command): void {
  const group = program.command('group').description('groups of users: what is shared with a group (images, templates, networks) its members may use; a group admin manages the members and sees their VMs');

  connectionOptions(apiCommand(group, 'create <name>', 'create a group (admin)')).action(
    runCliAction(async (signal, name: string, o: ApiOpts) => {
      const g = await (await connectTenancy(o)).createGroup({ name }, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
  connectionOptions(apiCommand(group, 'list', 'list the groups you may see (an admin: all; others: their own)')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const gs = await (await connectTenancy(o)).listGroups({ signal });
      if (o.json) return printJson(gs);
      printTable(['ID', 'NAME', 'MEMBERS', 'ADMINS'], gs.map((g) => [g.id.slice(0, 8), g.name, g.members.length, g.members.filter((m) => m.admin).map((m) => m.name).join(',') || '-']));
    }),
  );
  connectionOptions(apiCommand(group, 'show <group>', 'show a group (by id or name) and its members')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const g = await (await connectTenancy(o)).getGroup(ref, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
  connectionOptions(apiCommand(group, 'delete <group>', 'delete a group (admin): its memberships and shares go with it')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const g = await (await connectTenancy(o)).deleteGroup(ref, { signal });
      if (o.json) return printJson(g);
      process.stdout.write(`deleted group ${g.name}\n`);
    }),
  );
  connectionOptions(apiCommand(group, 'add-member <group> <user>', 'add a user to a group (an admin or the group\'s admin); again with --admin to change the flag')
    .option('--admin', 'make the member the group\'s admin (only a cloud admin may)')).action(
    runCliAction(async (signal, ref: string, user: string, o: ApiOpts & { admin?: boolean }) => {
      const g = await (await connectTenancy(o)).addMember(ref, { user, admin: o.admin === true }, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
  connectionOptions(apiCommand(group, 'remove-member <group> <user>', 'remove a user from a group (an admin or the group\'s admin)')).action(
    runCliAction(async (signal, ref: string, user: string, o: ApiOpts) => {
      const g = await (await connectTenancy(o)).removeMember(ref, user, { signal });
      if (o.json) return printJson(g);
      printGroup(g);
    }),
  );
}
