import type { Command } from 'commander';
import { AccessKeyClient } from '../../client/access-key-client.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

async function connectKeys(o: ApiOpts): Promise<AccessKeyClient> {
  const c = await connect(o);
  return new AccessKeyClient(c.baseUrl, c.token);
}

const KEEP = 'Keep the secret: it is shown only this once (delete the key with `nubo user access-key delete`). Use it with awscli, boto3 or the AWS SDK (README: "Using awscli, boto3 and the AWS SDK against nubo").';

/** `nubo user access-key create|list|delete`: AWS access keys for the EC2 and S3 listeners (your own; an admin's: anyone's). */
export function registerUserAccessKeyCommands(user: Command): void {
  const keys = user.command('access-key').description('AWS access keys (access key id + secret) for the EC2 and S3 APIs: several per user, revocable at once');
  const forUser = (c: Command): Command => c.option('--user <user>', 'whose keys (id or name; default: yours; only an admin may name another user)', 'me');

  connectionOptions(forUser(apiCommand(keys, 'create', 'make a new access key and print its id and secret (the secret is shown only this once)')
    .option('--description <text>', 'what the key is for (a script, a machine)'))).action(
    runCliAction(async (signal, o: ApiOpts & { user: string; description?: string }) => {
      const k = await (await connectKeys(o)).create(o.user, o.description !== undefined ? { description: o.description } : {}, { signal });
      if (o.json) return printJson(k);
      printFields([['access key id', k.accessKeyId], ['secret access key', k.secretAccessKey], ['description', dash(k.description)]]);
      process.stdout.write(`${KEEP}\n`);
    }),
  );
  connectionOptions(forUser(apiCommand(keys, 'list', 'list access keys (ids, descriptions, dates; never the secrets)'))).action(
    runCliAction(async (signal, o: ApiOpts & { user: string }) => {
      const ks = await (await connectKeys(o)).list(o.user, { signal });
      if (o.json) return printJson(ks);
      printTable(['ACCESS KEY ID', 'DESCRIPTION', 'CREATED'], ks.map((k) => [k.accessKeyId, dash(k.description), fmtTime(k.createdAt)]));
    }),
  );
  connectionOptions(forUser(apiCommand(keys, 'delete <access-key-id>', 'delete (revoke) an access key; requests signed with it fail from the next one')), { json: false }).action(
    runCliAction(async (signal, id: string, o: ApiOpts & { user: string }) => {
      await (await connectKeys(o)).delete(o.user, id, { signal });
      process.stdout.write(`deleted access key ${id}\n`);
    }),
  );
}
