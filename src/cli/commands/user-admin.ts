import { InvalidArgumentError, type Command } from 'commander';
import { TenancyClient } from '../../client/tenancy-client.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

/** The tenancy client over the same URL and token as every other command. */
export async function connectTenancy(o: ApiOpts): Promise<TenancyClient> {
  const c = await connect(o);
  return new TenancyClient(c.baseUrl, c.token);
}

function roleArg(value: string): 'admin' | 'user' {
  if (value !== 'admin' && value !== 'user') throw new InvalidArgumentError('expected admin or user (a group admin is a user with the admin flag on a group: `nubo group add-member --admin`).');
  return value;
}

const SECRET = 'Keep it: it is shown only this once (revoke it with `nubo user token revoke`).';

/** `nubo user create|list|delete|set-role` (admin) and `nubo user token create|list|revoke` (your own; an admin's: anyone's). */
export function registerUserAdminCommands(user: Command): void {
  connectionOptions(apiCommand(user, 'create <name>', 'create a user (admin) and print their first API token, shown only this once')
    .option('--role <role>', 'admin or user', roleArg, 'user' as const)).action(
    runCliAction(async (signal, name: string, o: ApiOpts & { role: 'admin' | 'user' }) => {
      const made = await (await connectTenancy(o)).createUser({ name, role: o.role }, { signal });
      if (o.json) return printJson(made);
      printFields([['id', made.user.id], ['name', made.user.name], ['role', made.user.role], ['token', made.token]]);
      process.stdout.write(`${SECRET}\n`);
    }),
  );

  connectionOptions(apiCommand(user, 'list', 'list the users you may see (an admin: all; a group admin: the groups\' members)')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const users = await (await connectTenancy(o)).listUsers({ signal });
      if (o.json) return printJson(users);
      printTable(['ID', 'NAME', 'ROLE', 'CREATED'], users.map((u) => [u.id.slice(0, 8), u.name, u.role, fmtTime(u.createdAt)]));
    }),
  );

  connectionOptions(apiCommand(user, 'delete <user>', 'delete a user (admin; by id or name): their tokens stop working at once. Refused while they own VMs not terminated, volumes, images or templates: terminate or delete those first')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const gone = await (await connectTenancy(o)).deleteUser(ref, { signal });
      if (o.json) return printJson(gone);
      process.stdout.write(`deleted user ${gone.name}\n`);
    }),
  );

  // The role is parsed by commander, so that a bad one is a usage error (exit 2) before anything is sent.
  connectionOptions(apiCommand(user, 'set-role <user>', 'make a user admin or user (admin); the last admin cannot step down')
    .argument('<role>', 'admin or user', roleArg)).action(
    runCliAction(async (signal, ref: string, role: 'admin' | 'user', o: ApiOpts) => {
      const u = await (await connectTenancy(o)).updateUser(ref, { role }, { signal });
      if (o.json) return printJson(u);
      process.stdout.write(`user ${u.name} is now ${u.role}\n`);
    }),
  );

  const token = user.command('token').description('API tokens: several per user, named, revocable at once (the next request with a revoked token fails)');
  const forUser = (c: Command): Command => c.option('--user <user>', 'whose tokens (id or name; default: yours; only an admin may name another user)', 'me');

  connectionOptions(forUser(apiCommand(token, 'create <name>', 'make a new token named NAME and print it (shown only this once)'))).action(
    runCliAction(async (signal, name: string, o: ApiOpts & { user: string }) => {
      const t = await (await connectTenancy(o)).createToken(o.user, { name }, { signal });
      if (o.json) return printJson(t);
      printFields([['id', t.id], ['name', t.name], ['token', t.token]]);
      process.stdout.write(`${SECRET}\n`);
    }),
  );
  connectionOptions(forUser(apiCommand(token, 'list', 'list tokens by name and date (never the tokens themselves)'))).action(
    runCliAction(async (signal, o: ApiOpts & { user: string }) => {
      const ts = await (await connectTenancy(o)).listTokens(o.user, { signal });
      if (o.json) return printJson(ts);
      printTable(['ID', 'NAME', 'CREATED'], ts.map((t) => [t.id.slice(0, 8), t.name, fmtTime(t.createdAt)]));
    }),
  );
  connectionOptions(forUser(apiCommand(token, 'revoke <token>', 'revoke a token by its name or id; it fails from the next request')), { json: false }).action(
    runCliAction(async (signal, ref: string, o: ApiOpts & { user: string }) => {
      await (await connectTenancy(o)).revokeToken(o.user, ref, { signal });
      process.stdout.write(`revoked token ${ref}\n`);
    }),
  );
}
