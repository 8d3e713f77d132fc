import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CommandError } from '../../errors/command-error.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { runCommand } from '../../util/run-command.js';
import { ImageBuildError } from '../tiny-image/image-build-error.js';
import { buildSteps } from '../build-steps.js';
import { ImageCache } from '../image-cache.js';
import { debianSourcesFor, readHostSourceFiles, renderDeb822 } from './debian-sources.js';

export interface DebianImage {
  /** cacheDir/nubo-debian */
  readonly dir: string;
  /** The guest's own kernel and initramfs, copied out of its /boot for direct kernel boot. */
  readonly kernel: string;
  readonly initrd: string;
  /** qcow2 root file system (ext4, no partition table); use it as a backing file or register it, never write it. */
  readonly rootDisk: string;
  readonly kernelVersion: string;
  readonly cmdline: string;
  /** The account cloud-init gives the owner's ssh keys (Debian's default cloud user). */
  readonly loginUser: string;
}

export interface BuildDebianImageOptions {
  readonly cacheDir: string;
  readonly signal?: AbortSignal;
  /** Rebuild even when a complete image is cached. */
  readonly force?: boolean;
  /** As BuildTinyImageOptions.onProgress. */
  readonly onProgress?: (p: { step: string; index: number; total: number }) => void;
  /** Where apt's sources are read from (tests). */
  readonly aptDir?: string;
}

export const DEBIAN_IMAGE_NAME = 'nubo-debian';
const RELEASE = 'bookworm';
const LOGIN_USER = 'debian';
const ROOT_LABEL = 'nubo-root';
const ROOT_DISK_SIZE = '1G';

/**
 * The verified recipe (FACTS.md) plus qemu-guest-agent. cloud-init renders
 * its network config for ifupdown on Debian, so that comes along; the kernel
 * is Debian's cloud flavour (virtio built for, small).
 */
const PACKAGES = [
  'systemd-sysv', 'udev', 'cloud-init', 'openssh-server', 'qemu-guest-agent', 'linux-image-cloud-amd64',
  'ifupdown', 'isc-dhcp-client', 'netbase', 'iproute2', 'sudo',
  // fsck at boot and resize2fs for cloud-init's resizefs (a VM whose disk was made bigger).
  'e2fsprogs',
] as const;

/**
 * Kept off the image: documentation and translations (dpkg never unpacks
 * them, in the build and in the guest later, since mmdebstrap leaves the
 * filter in /etc/dpkg/dpkg.cfg.d), recommends.
 */
const DPKG_OPTIONS = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
] as const;

/**
 * Only the NoCloud config drive is looked for: probing for every cloud's
 * metadata service costs boot time and would send traffic off the lab.
 * Debian's cloud.cfg asks for en_US.UTF-8, which a minbase system without
 * `locales` cannot generate: cloud-init 22.4 then fails its locale module
 * (cloud-config.service fails, `cloud-init status` says error). C.UTF-8 is
 * built into libc and needs no generation.
 */
const CLOUD_CFG = 'datasource_list: [ NoCloud, None ]\nlocale: C.UTF-8\n';

/**
 * Run in the finished tree ($1). Host keys are made by openssh-server's
 * postinst and would be shared by every VM of the image: cloud-init makes
 * fresh ones on each instance's first boot (and prints them on the console,
 * where `nubo vm ssh` reads them).
 */
const CUSTOMIZE_HOOKS = [
  'rm -f "$1"/etc/ssh/ssh_host_*',
  `printf '%s' '${CLOUD_CFG}' > "$1"/etc/cloud/cloud.cfg.d/90-nubo.cfg`,
  `printf 'LABEL=${ROOT_LABEL} / ext4 defaults,errors=remount-ro 0 1\\n' > "$1"/etc/fstab`,
  // Unique per instance: systemd makes one on first boot when it is empty.
  ': > "$1"/etc/machine-id',
] as const;

/**
 * ttyS0 is the only console; net.ifnames=0 keeps the NICs eth0…, the names
 * nubo's network-config gives them.
 */
const CMDLINE = `root=LABEL=${ROOT_LABEL} rw console=ttyS0 net.ifnames=0`;

const FORMAT = 1;

const RECIPE = createHash('sha256')
  .update(JSON.stringify({ FORMAT, RELEASE, PACKAGES, DPKG_OPTIONS, CUSTOMIZE_HOOKS, CMDLINE, ROOT_LABEL, ROOT_DISK_SIZE, LOGIN_USER }))
  .digest('hex')
  .slice(0, 16);

const FILES = { kernel: 'vmlinuz', initrd: 'initrd.img', rootDisk: 'root.qcow2' } as const;

const manifestSchema = z.object({
  format: z.literal(FORMAT),
  recipe: z.string(),
  release: z.string(),
  kernelVersion: z.string().min(1),
  cmdline: z.string(),
  loginUser: z.string(),
  packages: z.array(z.string()),
  builtAt: z.string(),
});
type Manifest = z.infer<typeof manifestSchema>;

const STEPS = ['find Debian mirror', 'bootstrap root file system', 'extract kernel', 'make root disk', 'install image'] as const;

const cache = new ImageCache({ name: DEBIAN_IMAGE_NAME, recipe: RECIPE, manifest: manifestSchema, imageAt, files: (i: DebianImage) => [i.kernel, i.initrd, i.rootDisk] });

/** The image if built and complete for this recipe, else undefined. */
export function findDebianImage(cacheDir: string): Promise<DebianImage | undefined> {
  return cache.find(cacheDir);
}

/**
 * Builds a Debian 12 guest with real cloud-init from Debian's packages alone
 * (mmdebstrap from the mirror this machine's apt uses; no loop mounts), into
 * cacheDir/nubo-debian. Cached like nubo-tiny: a complete image for this recipe
 * is returned as is; the manifest is written last and the folder is installed
 * with one rename.
 */
export function buildDebianImage(opts: BuildDebianImageOptions): Promise<DebianImage> {
  return cache.obtain(opts.cacheDir, opts.force === true, (tmp) => build(opts, tmp));
}

async function build(opts: BuildDebianImageOptions, tmp: string): Promise<DebianImage> {
  const { cacheDir } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const work = join(tmp, 'work');
  const out = join(tmp, 'image');
  const root = join(work, 'root');
  await mkdir(work);
  await mkdir(out);
  const { run, done } = buildSteps(STEPS, signal, opts.onProgress);

  const sourcesFile = join(work, 'debian.sources');
  await run('find Debian mirror', undefined, async () => {
    const sources = debianSourcesFor(RELEASE, await readHostSourceFiles(opts.aptDir));
    if (sources.length === 0) {
      throw new ImageBuildError(
        'find Debian mirror',
        undefined,
        `no apt source for Debian ${RELEASE} in ${opts.aptDir ?? '/etc/apt'} (sources.list, sources.list.d/*.list|*.sources): the guest is bootstrapped from the mirror this machine's apt uses`,
      );
    }
    await writeFile(sourcesFile, renderDeb822(sources));
  });

  await run('bootstrap root file system', undefined, async () => {
    try {
      await runCommand(
        'mmdebstrap',
        [
          '--variant=minbase',
          '--format=directory',
          '--aptopt=APT::Install-Recommends "false"',
          ...DPKG_OPTIONS.map((o) => `--dpkgopt=${o}`),
          `--include=${PACKAGES.join(',')}`,
          ...CUSTOMIZE_HOOKS.map((h) => `--customize-hook=${h}`),
          RELEASE,
          root,
          sourcesFile,
        ],
        // ~40 s with a warm mirror; a busy machine or a slow mirror takes many times that.
        { signal, timeoutMs: 30 * 60_000 },
      );
    } catch (err) {
      if (signal.aborted) throw err;
      const missing = (err as { code?: unknown }).code === 'ENOENT';
      const stderr = err instanceof CommandError ? err.stderr : '';
      throw new ImageBuildError(
        'bootstrap root file system',
        missing ? 'mmdebstrap' : undefined,
        missing
          ? 'mmdebstrap is not installed: run scripts/install-deps.sh (or apt-get install mmdebstrap)'
          : `mmdebstrap failed; if a package could not be fetched, run \`apt-get update\` and retry: ${errorMessage(err)}`,
        // mmdebstrap reports on stderr at length; the end says what failed.
        stderr.slice(-4000),
        { cause: err },
      );
    }
  });

  const kernelVersion = await run('extract kernel', 'linux-image-cloud-amd64', async () => {
    const boot = await readdir(join(root, 'boot'));
    const vmlinuz = boot.find((n) => n.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new ImageBuildError('extract kernel', 'linux-image-cloud-amd64', `no vmlinuz-* in ${join(root, 'boot')}`);
    const version = vmlinuz.slice('vmlinuz-'.length);
    if (!boot.includes(`initrd.img-${version}`)) {
      throw new ImageBuildError('extract kernel', 'initramfs-tools', `no initrd.img-${version} in ${join(root, 'boot')}: the kernel's initramfs was not generated`);
    }
    await copyFile(join(root, 'boot', vmlinuz), join(out, FILES.kernel));
    await copyFile(join(root, 'boot', `initrd.img-${version}`), join(out, FILES.initrd));
    return version;
  });

  await run('make root disk', undefined, async () => {
    const raw = join(work, 'root.raw');
    // -d fills the file system from the tree: no loop device, no mount.
    await runCommand('mkfs.ext4', ['-q', '-F', '-L', ROOT_LABEL, '-d', root, raw, ROOT_DISK_SIZE], { signal, timeoutMs: 600_000 });
    await rm(root, { recursive: true, force: true });
    await runCommand('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(out, FILES.rootDisk)], { signal, timeoutMs: 600_000 });
  });

  return run('install image', undefined, async () => {
    await rm(work, { recursive: true, force: true });
    const manifest: Manifest = {
      format: FORMAT,
      recipe: RECIPE,
      release: RELEASE,
      kernelVersion,
      cmdline: CMDLINE,
      loginUser: LOGIN_USER,
      packages: [...PACKAGES],
      builtAt: new Date().toISOString(),
    };
    const image = await cache.install(out, cacheDir, tmp, opts.force === true, manifest);
    done();
    return image;
  });
}

function imageAt(dir: string, m: Manifest): DebianImage {
  return {
    dir,
    kernel: join(dir, FILES.kernel),
    initrd: join(dir, FILES.initrd),
    rootDisk: join(dir, FILES.rootDisk),
    kernelVersion: m.kernelVersion,
    cmdline: m.cmdline,
    loginUser: m.loginUser,
  };
}
