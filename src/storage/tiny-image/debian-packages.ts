import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError } from '../../errors/command-error.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { runCommand } from '../../util/run-command.js';
import { ImageBuildError } from './image-build-error.js';

/** The guest kernel comes from Debian's archive, fetched as a .deb and unpacked; nothing is installed on the host. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';

/** `linux-image-cloud-amd64` is a meta package; its Depends names the versioned kernel. */
export async function resolveKernelPackage(signal: AbortSignal): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await runCommand('apt-cache', ['depends', KERNEL_META_PACKAGE], { signal, timeoutMs: 60_000 }));
  } catch (err) {
    if (signal.aborted) throw err;
    throw aptError('resolve kernel package', KERNEL_META_PACKAGE, err);
  }
  const name = /^\s*\|?Depends:\s*(linux-image-\d\S*)\s*$/m.exec(stdout)?.[1];
  if (!name) {
    throw new ImageBuildError(
      'resolve kernel package',
      KERNEL_META_PACKAGE,
      `apt-cache depends ${KERNEL_META_PACKAGE} names no linux-image-<version> package; run \`apt-get update\` and retry`,
      stdout,
    );
  }
  return name;
}

/** Fetches a .deb into `dir` without installing it; returns its path. */
export async function aptDownload(pkg: string, dir: string, signal: AbortSignal): Promise<string> {
  // As root apt drops to the _apt user for downloads, which cannot write into
  // our private build folder; downloading as root avoids a spurious warning.
  const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
  try {
    await runCommand('apt-get', ['download', '-q', ...sandbox, pkg], { cwd: dir, signal, timeoutMs: 600_000 });
  } catch (err) {
    if (signal.aborted) throw err;
    throw aptError('download', pkg, err);
  }
  const deb = (await readdir(dir)).find((n) => n.startsWith(`${pkg}_`) && n.endsWith('.deb'));
  if (!deb) throw new ImageBuildError('download', pkg, `apt-get download ${pkg} succeeded but left no .deb in ${dir}`);
  return join(dir, deb);
}

function aptError(step: string, pkg: string, err: unknown): ImageBuildError {
  const stderr = err instanceof CommandError ? err.stderr : errorMessage(err);
  return new ImageBuildError(
    step,
    pkg,
    `cannot fetch Debian package ${pkg}; run \`apt-get update\` (and check the Debian mirror is reachable), then retry. apt said:`,
    stderr,
    { cause: err },
  );
}

/** Unpacks a .deb's files (no maintainer scripts run) and returns its version. */
export async function unpackDeb(deb: string, into: string, signal: AbortSignal): Promise<string> {
  await runCommand('dpkg-deb', ['-x', deb, into], { signal, timeoutMs: 300_000 });
  const { stdout } = await runCommand('dpkg-deb', ['-f', deb, 'Version'], { signal, timeoutMs: 30_000 });
  return stdout.trim();
}

