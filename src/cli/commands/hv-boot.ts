import type { Command } from 'commander';
import { mkdtemp, mkdir, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { waitForConsole } from '../../hypervisor/qemu/wait-for-console.js';
import { buildTinyImage } from '../../storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../../storage/prepare-tiny-vm.js';
import { imageCacheDir } from '../../util/nubo-home.js';
import { freePort } from '../../util/free-port.js';
import { sleep } from '../../util/deadline.js';
import { runCliAction } from '../run-cli-action.js';
import { EXIT } from '../exit-codes.js';

interface Opts {
  memory: string;
  vcpus: string;
  port?: string;
  stay: boolean;
  cache: string;
}

/**
 * Developer command: boots one nubo-tiny guest straight on the hypervisor
 * layer (no controller), streams its console, checks its web server through
 * a loopback port forward, then powers it off cleanly.
 */
export function registerHvBoot(hv: Command): void {
  hv.command('boot')
    .description('boot a nubo-tiny guest on the local QEMU, show its console and check its HTTP server')
    .option('--memory <MiB>', 'guest memory in MiB', '128')
    .option('--vcpus <n>', 'virtual CPUs', '1')
    .option('--port <port>', 'loopback port forwarded to the guest\'s port 80 (default: a free one)')
    .option('--stay', 'keep the guest running until Ctrl-C', false)
    .option('--cache <dir>', 'image cache directory', imageCacheDir())
    .action(runCliAction(async (signal, o: Opts) => hvBoot(signal, o)));
}

async function hvBoot(signal: AbortSignal, o: Opts): Promise<number> {
  const out = (s: string): boolean => process.stdout.write(s);
  const image = await buildTinyImage({ cacheDir: o.cache, signal, onProgress: ({ step, index, total }) => out(`image: [${index}/${total}] ${step}\n`) });
  const port = o.port !== undefined ? Number(o.port) : await freePort();
  // Short: QEMU's unix socket paths must fit in 107 bytes.
  const root = await mkdtemp(join(tmpdir(), 'nubo-boot-'));
  const ds = join(root, 'ds');
  await mkdir(ds);
  const { QemuDriver } = await import('../../hypervisor/qemu/qemu-driver.js');
  const driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [ds, image.dir] });
  const id = 'tiny-1';
  try {
    const spec = await prepareTinyVm({
      image,
      dir: ds,
      id,
      memoryMiB: Number(o.memory),
      vcpus: Number(o.vcpus),
      nics: [{ kind: 'user', mac: '52:54:00:00:00:01', address: '198.18.250.15/24', gateway: '198.18.250.2', forwards: [{ hostPort: port, guestPort: 80 }] }],
      signal,
    });
    out(`starting ${id} (${driver.accel.toUpperCase()}, ${o.memory} MiB), console follows\n`);
    const t0 = Date.now();
    await driver.start(spec, { signal });
    const stopTail = tailConsole(driver.pathsOf(id).serialLog, (s) => out(s));
    try {
      await waitForConsole(driver.pathsOf(id).serialLog, `NUBO-READY ${id}`, { signal, timeoutMs: 60_000 });
    } finally {
      await stopTail();
    }
    const readyMs = Date.now() - t0;
    const checks = await httpChecks(port);
    out(`\nready after ${(readyMs / 1000).toFixed(2)} s; HTTP on 127.0.0.1:${port}\n`);
    for (const c of checks) out(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}\n`);
    if (o.stay) {
      out(`guest stays up: curl http://127.0.0.1:${port}/ — Ctrl-C to power it off\n`);
      await sleep(2 ** 31 - 1, signal).catch(() => {});
    }
    const { clean } = await driver.shutdown(id, { timeoutMs: 30_000 });
    out(`powered off ${clean ? 'cleanly (ACPI)' : 'by force (the guest did not answer ACPI)'}\n`);
    return checks.every((c) => c.ok) ? EXIT.OK : EXIT.FAILED;
  } finally {
    await driver.destroy(id).catch(() => {});
    await driver.close();
    await rm(root, { recursive: true, force: true });
  }
}

function tailConsole(path: string, write: (s: string) => void): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    let offset = 0;
    while (!stopped) {
      const fh = await open(path, 'r').catch(() => undefined);
      if (fh) {
        const buf = Buffer.alloc(65536);
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        await fh.close();
        if (bytesRead > 0) {
          offset += bytesRead;
          write(buf.subarray(0, bytesRead).toString('utf8'));
          continue;
        }
      }
      await sleep(50);
    }
  })();
  return async () => {
    // One more pass so that the readiness line itself is shown.
    await sleep(100);
    stopped = true;
    await loop;
  };
}

async function httpChecks(port: number): Promise<{ what: string; ok: boolean; detail: string }[]> {
  const get = (path: string): Promise<{ status: number; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  const check = async (what: string, path: string, judge: (r: { status: number; body: Buffer }) => [boolean, string]) => {
    try {
      const [ok, detail] = judge(await get(path));
      return { what, ok, detail };
    } catch (err) {
      return { what, ok: false, detail: String(err) };
    }
  };
  return [
    await check('index page', '/', (r) => [r.status === 200 && r.body.includes('tiny-1'), `HTTP ${r.status}, ${r.body.length} bytes`]),
    await check('512 KiB file', '/file-512k', (r) => [r.status === 200 && r.body.length === 524288, `HTTP ${r.status}, ${r.body.length} bytes`]),
    await check('uptime CGI', '/cgi-bin/uptime', (r) => [r.status === 200 && parseFloat(r.body.toString()) > 0, `${r.body.toString().trim()} s`]),
  ];
}
