#!/usr/bin/env node
import { Command } from 'commander';
import { registerImageBuildTiny } from './commands/image-build-tiny.js';
import { registerImageBuildDebian } from './commands/image-build-debian.js';
import { registerHvBoot } from './commands/hv-boot.js';
import { registerHostCommands } from './commands/host.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerDatastoreCommands } from './commands/datastore.js';
import { registerImageCommands } from './commands/image.js';
import { registerTemplateCommands } from './commands/template.js';
import { registerVmCommands } from './commands/vm.js';
import { registerMigrationCommands } from './commands/migration.js';
import { registerDaemonCommands } from './commands/daemons.js';
import { registerUp } from './commands/up.js';
import { registerLabCommands } from './commands/lab.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerVolumeCommands } from './commands/volume.js';
import { registerUserCommands } from './commands/user.js';
import { registerGroupCommands } from './commands/group.js';
import { registerQuotaCommands } from './commands/quota.js';
import { registerDrsCommands } from './commands/drs.js';
import { registerScalingGroupCommands } from './commands/scaling-group.js';
import { registerShareCommands } from './commands/share.js';
import { registerSimCommands } from './commands/sim.js';
import { registerUsageCommands } from './commands/usage.js';
import { registerLeaseCommands } from './commands/lease.js';
import { registerCloudCommands } from './commands/cloud.js';
import { EXIT } from './exit-codes.js';

// `nubo … | head`: the reader has what it wanted and closed the pipe; that is the end of the output, not a failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
    throw err;
  });
}

const program = new Command()
  .name('nubo')
  .description('nubo — IaaS cloud manager: VM provisioning and migration over QEMU')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride((err) => {
    // Help and version are not errors; anything else commander rejects is a usage error.
    process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
  })
  .addHelpText(
    'after',
    `
Commands that talk to the controller take --url and --token; without them
NUBO_URL and NUBO_TOKEN are used, else $NUBO_HOME/credentials.json (~/.nubo by
default) as written by \`nubo up\`.

Exit codes:
  0    ok
  1    the operation failed: the controller refused it (409: the VM is in the
       wrong state; the message names the state), the resource was not found
       (404 — it may exist no more, so it counts as a failure, not a typo), a
       server error (5xx), the controller is unreachable, or a --wait ended
       with the VM failed or timed out
  2    invalid input: bad flags or arguments, no credentials configured, or
       the controller rejected the request as invalid (400) or the token (401/403)
  130  interrupted (Ctrl-C)`,
  );

registerUp(program);
registerDaemonCommands(program);
registerHostCommands(program);
registerClusterCommands(program);
registerDatastoreCommands(program);

const image = program.command('image').description('guest images');
registerImageBuildTiny(image);
registerImageBuildDebian(image);
registerImageCommands(image);

registerNetworkCommands(program);
registerTemplateCommands(program);
registerVmCommands(program);
registerVolumeCommands(program);
registerMigrationCommands(program);
registerLabCommands(program);
registerUserCommands(program);
registerGroupCommands(program);
registerShareCommands(program);
registerSimCommands(program);
registerQuotaCommands(program);
registerDrsCommands(program);
registerScalingGroupCommands(program);
registerUsageCommands(program);
registerLeaseCommands(program);
registerCloudCommands(program);

const hv = program.command('hv').description('developer commands on the local hypervisor layer (no controller)');
registerHvBoot(hv);

await program.parseAsync(process.argv);
