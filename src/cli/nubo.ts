#!/usr/bin/env node
import { Command } from 'commander';
import { registerImageBuildTiny } from './commands/image-build-tiny.js';
import { registerHvBoot } from './commands/hv-boot.js';
import { EXIT } from './exit-codes.js';

const program = new Command()
  .name('nubo')
  .description('nubo — IaaS cloud manager: VM provisioning and migration over QEMU')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride((err) => {
    // Help and version are not errors; anything else commander rejects is a usage error.
    process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
  });

const image = program.command('image').description('guest images');
registerImageBuildTiny(image);

const hv = program.command('hv').description('developer commands on the local hypervisor layer (no controller)');
registerHvBoot(hv);

await program.parseAsync(process.argv);
