import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGunzip, createGzip } from 'node:zlib';
import { z } from 'zod';
import { runCommand } from '../../util/run-command.js';
import { GUEST_INIT, MODULE_LOAD_LIST } from './guest-init.js';
import { ImageBuildError } from './image-build-error.js';
import { buildSteps } from '../build-steps.js';
import { ImageCache } from '../image-cache.js';
import { tinyFile512k } from './tiny-file-512k.js';
import { KERNEL_META_PACKAGE, aptDownload, resolveKernelPackage, unpackDeb } from './debian-packages.js';

export interface TinyImage {
  /** cacheDir/nubo-tiny */
  readonly dir: string;
  /** Absolute path of the kernel (bzImage). */
  readonly kernel: string;
  /** Absolute path of the gzip'd newc cpio initramfs. */
  readonly initrd: string;
  /** Absolute path of the qcow2 base data disk (ext4, label nubo-data); use it as a backing file, never write it. */
  readonly dataDisk: string;
  readonly kernelVersion: string;
  /** Kernel command line the image was built for. */
  readonly cmdline: string;
}

export interface BuildTinyImageOptions {
  readonly cacheDir: string;
  readonly signal?: AbortSignal;
  /** Rebuild even when a complete image is cached. */
  readonly force?: boolean;
  /**
   * Called as each step starts (`index` 0-based) and once at the end with
   * `step: 'done'` and `index === total`.
   */
  readonly onProgress?: (p: { step: string; index: number; total: number }) => void;
}

const IMAGE_NAME = 'nubo-tiny';
const BUSYBOX_PACKAGE = 'busybox-static';
const DATA_DISK_BYTES = 64 * 1024 * 1024;
const DATA_LABEL = 'nubo-data';
/** Fixed so that rebuilding the data disk yields the same bytes (see makeDataDisk). */
const DATA_UUID = '6e75626f-7469-4e79-8000-646174610000';
const DATA_FS_TIME = 1_700_000_000;

/**
 * ttyS0 is the only console (-nodefaults, no VGA). `quiet` keeps the kernel's
 * own lines off the serial log so the readiness marker is easy to find and
 * the 115200-baud UART does not slow the boot. `panic=-1` reboots at once on
 * a panic so that QEMU with -no-reboot exits instead of hanging.
 */
const CMDLINE = 'console=ttyS0 quiet panic=-1';

/**
 * Loaded by init in this order. There is no modules.dep in the image, so
 * every dependency precedes its user: the virtio chain (FACTS.md), cdrom
 * before isofs (the config drive), and button + evdev so the ACPI power button
 * reaches userspace as an input event.
 */
const MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci',
  'failover', 'net_failover', 'virtio_net', 'virtio_blk',
  'cdrom', 'isofs',
  'button', 'evdev',
] as const;

/** Bump when the layout changes in a way the recipe hash does not capture. */
const FORMAT = 1;

/**
 * A cached image built from another version of this file (other init script,
 * modules or cmdline) is stale: findTinyImage ignores it and a build replaces it.
 */
const RECIPE = createHash('sha256')
  .update(JSON.stringify({ FORMAT, CMDLINE, MODULES, GUEST_INIT, DATA_DISK_BYTES, DATA_LABEL, DATA_UUID, DATA_FS_TIME }))
  .digest('hex')
  .slice(0, 16);

const FILES = { kernel: 'vmlinuz', initrd: 'initramfs.gz', dataDisk: 'data.qcow2' } as const;

const manifestSchema = z.object({
  format: z.literal(FORMAT),
  recipe: z.string(),
  kernelVersion: z.string().min(1),
  kernelPackage: z.string(),
  busyboxPackage: z.string(),
  cmdline: z.string(),
  builtAt: z.string(),
});
type Manifest = z.infer<typeof manifestSchema>;

const STEPS = [
  'resolve kernel package',
  'download kernel',
  'download busybox',
  'unpack kernel',
  'unpack busybox',
  'assemble initramfs',
  'pack initramfs',
  'make data disk',
  'install image',
] as const;

const cache = new ImageCache({ name: IMAGE_NAME, recipe: RECIPE, manifest: manifestSchema, imageAt, files: (i: TinyImage) => [i.kernel, i.initrd, i.dataDisk] });

/** Returns the image if already built and complete (manifest present and files exist), else undefined. No I/O beyond stat/read. */
export function findTinyImage(cacheDir: string): Promise<TinyImage | undefined> {
  return cache.find(cacheDir);
}

export function buildTinyImage(opts: BuildTinyImageOptions): Promise<TinyImage> {
  return cache.obtain(opts.cacheDir, opts.force === true, (tmp) => build(opts, tmp));
}

async function build(opts: BuildTinyImageOptions, tmp: string): Promise<TinyImage> {
  const { cacheDir } = opts;
  // A never-aborting signal keeps the helpers free of optional-signal cases.
  const signal = opts.signal ?? new AbortController().signal;
  const work = join(tmp, 'work');
  const out = join(tmp, 'image');
  const root = join(work, 'root');
  await mkdir(work);
  await mkdir(out);
  const { run, done } = buildSteps(STEPS, signal, opts.onProgress);

  const kernelPackage = await run('resolve kernel package', KERNEL_META_PACKAGE, () => resolveKernelPackage(signal));
  const kernelVersion = kernelPackage.replace(/^linux-image-/, '');
  const kernelDeb = await run('download kernel', kernelPackage, () => aptDownload(kernelPackage, work, signal));
  const busyboxDeb = await run('download busybox', BUSYBOX_PACKAGE, () => aptDownload(BUSYBOX_PACKAGE, work, signal));

  const kernelTree = join(work, 'kernel');
  const kernelPackageVersion = await run('unpack kernel', kernelPackage, () => unpackDeb(kernelDeb, kernelTree, signal));
  const busyboxTree = join(work, 'busybox');
  const busyboxVersion = await run('unpack busybox', BUSYBOX_PACKAGE, () => unpackDeb(busyboxDeb, busyboxTree, signal));

  await run('assemble initramfs', kernelPackage, async () => {
    await copyFile(join(kernelTree, 'boot', `vmlinuz-${kernelVersion}`), join(out, FILES.kernel));
    await assembleRoot(root, kernelTree, kernelVersion, busyboxTree, signal);
  });
  await run('pack initramfs', undefined, () => packInitramfs(root, join(work, 'initramfs.cpio'), join(out, FILES.initrd), signal));
  await run('make data disk', undefined, () => makeDataDisk(join(work, 'data.raw'), join(out, FILES.dataDisk), signal));

  return run('install image', undefined, async () => {
    // Unpacked kernel trees are ~100 MB: drop them before the rename so the
    // cache holds only the image.
    await rm(work, { recursive: true, force: true });
    const manifest: Manifest = {
      format: FORMAT,
      recipe: RECIPE,
      kernelVersion,
      kernelPackage: `${kernelPackage}=${kernelPackageVersion}`,
      busyboxPackage: `${BUSYBOX_PACKAGE}=${busyboxVersion}`,
      cmdline: CMDLINE,
      builtAt: new Date().toISOString(),
    };
    const image = await cache.install(out, cacheDir, tmp, opts.force === true, manifest);
    done();
    return image;
  });
}

function imageAt(dir: string, m: Manifest): TinyImage {
  return {
    dir,
    kernel: join(dir, FILES.kernel),
    initrd: join(dir, FILES.initrd),
    dataDisk: join(dir, FILES.dataDisk),
    kernelVersion: m.kernelVersion,
    cmdline: m.cmdline,
  };
}

async function assembleRoot(root: string, kernelTree: string, kernelVersion: string, busyboxTree: string, signal: AbortSignal): Promise<void> {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'data', 'etc', 'root', 'www']) {
    await mkdir(join(root, d), { recursive: true });
  }
  await chmod(join(root, 'tmp'), 0o1777);
  await writeFile(join(root, 'init'), GUEST_INIT, { mode: 0o755 });
  await chmod(join(root, 'init'), 0o755);

  const busybox = join(root, 'bin', 'busybox');
  await copyFile(join(busyboxTree, 'bin', 'busybox'), busybox);
  await chmod(busybox, 0o755);
  // Links made at build time rather than `busybox --install` at boot: it
  // saves boot time and the tree is inspectable. The binary is static, so
  // running it on the (amd64) host to list its applets is safe.
  const { stdout } = await runCommand(busybox, ['--list-full'], { signal, timeoutMs: 30_000 });
  for (const applet of stdout.split('\n').map((s) => s.trim())) {
    // `linuxrc` (no folder) would shadow nothing useful; `bin/busybox` is the binary.
    if (!applet.includes('/') || applet === 'bin/busybox') continue;
    const link = join(root, applet);
    await mkdir(dirname(link), { recursive: true });
    await symlink('/bin/busybox', link);
  }

  // The kernel opens /dev/console before running init; with the node in the
  // archive the very first messages reach the serial port. Only root can
  // make it; init re-opens the console after mounting devtmpfs regardless.
  if (process.getuid?.() === 0) {
    await runCommand('mknod', ['-m', '600', join(root, 'dev', 'console'), 'c', '5', '1'], { signal, timeoutMs: 10_000 });
  }

  await writeFile(join(root, 'www', 'file-512k'), tinyFile512k());

  const modRoot = join(kernelTree, 'lib', 'modules', kernelVersion);
  const found = await indexModules(modRoot);
  const destRoot = join(root, 'lib', 'modules', kernelVersion);
  const order: string[] = [];
  for (const name of MODULES) {
    const rel = found.get(name);
    if (!rel) throw new ImageBuildError('assemble initramfs', `linux-image-${kernelVersion}`, `kernel module ${name} not found under ${modRoot}`);
    const plain = rel.replace(/\.(xz|zst|gz)$/, '');
    const dest = join(destRoot, plain);
    await mkdir(dirname(dest), { recursive: true });
    await copyModule(join(modRoot, rel), dest, signal);
    order.push(plain);
  }
  await writeFile(join(destRoot, MODULE_LOAD_LIST), `${order.join('\n')}\n`);
}

/** Module name (as insmod/modprobe spell it) -> path relative to modRoot. */
async function indexModules(modRoot: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  const entries = await readdir(join(modRoot, 'kernel'), { recursive: true, withFileTypes: true });
  for (const e of entries) {
    const m = /^(.+)\.ko(\.(xz|zst|gz))?$/.exec(e.name);
    if (!e.isFile() || !m?.[1]) continue;
    // Module names use '_' where file names may use '-'.
    map.set(m[1].replace(/-/g, '_'), relative(modRoot, join(e.parentPath, e.name)));
  }
  return map;
}

/**
 * busybox insmod hands the file to init_module(2) as is, and this kernel
 * cannot take compressed modules that way, so they are stored plain.
 */
async function copyModule(src: string, dest: string, signal: AbortSignal): Promise<void> {
  if (src.endsWith('.gz')) {
    await pipeline(createReadStream(src), createGunzip(), createWriteStream(dest), { signal });
  } else if (src.endsWith('.xz') || src.endsWith('.zst')) {
    const tool = src.endsWith('.xz') ? 'xz' : 'zstd';
    const copy = `${dest}${src.slice(src.lastIndexOf('.'))}`;
    await copyFile(src, copy);
    await runCommand(tool, ['-d', '-q', '-f', copy], { signal, timeoutMs: 60_000 });
  } else {
    await copyFile(src, dest);
  }
}

async function packInitramfs(root: string, cpioPath: string, gzPath: string, signal: AbortSignal): Promise<void> {
  // The kernel's unpacker does not create parent folders, so every folder
  // must be listed before its contents: a pre-order walk.
  const names: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      names.push(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk('');
  await runCommand(
    'cpio',
    ['--create', '--format=newc', '--owner=0:0', '--reproducible', '--quiet', '--force-local', '-O', cpioPath],
    { cwd: root, input: `${names.join('\n')}\n`, signal, timeoutMs: 120_000 },
  );
  await pipeline(createReadStream(cpioPath), createGzip({ level: zlibConstants.Z_BEST_COMPRESSION }), createWriteStream(gzPath), { signal });
}

async function makeDataDisk(raw: string, qcow2: string, signal: AbortSignal): Promise<void> {
  const fh = await open(raw, 'w');
  try {
    await fh.truncate(DATA_DISK_BYTES);
  } finally {
    await fh.close();
  }
  // VMs' overlays use this file as their backing image, so a rebuild (new
  // init script, --force) must reproduce it bit for bit or every existing
  // overlay would sit on a different file system. Fixed UUID, hash seed and
  // timestamps make mkfs deterministic; root_owner keeps it independent of
  // who runs the build.
  await runCommand(
    'mkfs.ext4',
    ['-q', '-F', '-L', DATA_LABEL, '-U', DATA_UUID, '-E', `root_owner=0:0,hash_seed=${DATA_UUID}`, raw],
    { signal, timeoutMs: 120_000, env: { ...process.env, E2FSPROGS_FAKE_TIME: String(DATA_FS_TIME) } },
  );
  await runCommand('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2], { signal, timeoutMs: 120_000 });
}
