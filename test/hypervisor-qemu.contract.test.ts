import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { hypervisorContract } from '../src/hypervisor/hypervisor.contract.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { createImage } from '../src/storage/qemu-img.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { httpGet } from './support/http-get.js';
import { deleteTap, tapExists } from '../src/network/tap-device.js';
import { pollUntil } from '../src/util/deadline.js';

// User data: a CGI listing the MACs of the guest's interfaces (hot-plugged ones included).
const MACS_CGI = ['#!/bin/sh', "cat > /www/cgi-bin/macs <<'EOF'", '#!/bin/sh', "printf 'Content-Type: text/plain\\r\\n\\r\\n'", 'cat /sys/class/net/*/address', 'EOF', 'chmod 755 /www/cgi-bin/macs', ''].join('\n');
// TAPs of hot-plugged NICs live in the root namespace: named after this process so that parallel runs never share one.
const hotTap = (n: number): string => `nbh${process.pid.toString(36)}-${n}`;

hypervisorContract('qemu', async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  const root = await mkdtemp(join(tmpdir(), 'nubo-hv-'));
  const runDir = join(root, 'run');
  const ds = join(root, 'ds');
  await mkdir(ds);
  const outsideFile = join(root, 'outside.raw');
  await writeFile(outsideFile, Buffer.alloc(1024 * 1024));
  const opts = { runDir, allowedDirs: [ds, image.dir], accel: 'auto' as const };
  let driver = await QemuDriver.create(opts);
  const ports = new Map<string, number>();
  return {
    get driver() {
      return driver;
    },
    async reopen() {
      await driver.close();
      driver = await QemuDriver.create(opts);
      return driver;
    },
    async spec(id) {
      const port = await freePort();
      ports.set(id, port);
      return prepareTinyVm({
        image,
        dir: ds,
        id,
        nics: [{ kind: 'user', mac: '52:54:00:00:10:01', address: '198.18.250.15/24', gateway: '198.18.250.2', forwards: [{ hostPort: port, guestPort: 80 }] }],
        userData: MACS_CGI,
      });
    },
    stateDir: ds,
    outsideFile,
    async newDisk(name) {
      const p = join(ds, name);
      await createImage(p, 'raw', 16 * 1024 * 1024);
      return p;
    },
    async killBehindBack(vmId) {
      const { pid } = await driver.status(vmId);
      if (pid === undefined) throw new Error(`${vmId} has no pid`);
      process.kill(pid, 'SIGKILL');
    },
    async waitBooted(vmId) {
      await waitForConsole(driver.pathsOf(vmId).serialLog, `NUBO-READY ${vmId}`, { timeoutMs: 60_000 });
    },
    async guestUptime(vmId) {
      const res = await httpGet(`http://127.0.0.1:${ports.get(vmId)}/cgi-bin/uptime`);
      if (res.status !== 200) throw new Error(`uptime CGI answered ${res.status}`);
      return parseFloat(res.body.toString());
    },
    nic(n) {
      return { kind: 'tap', id: `hot${n}`, mac: `52:54:00:00:20:${n.toString(16).padStart(2, '0')}`, ifname: hotTap(n), pciSlot: 0x10 + n };
    },
    async guestMacs(vmId) {
      // The CGI comes with the user data, which runs just after the readiness marker.
      const body = await pollUntil(`${vmId} /cgi-bin/macs`, async () => {
        const res = await httpGet(`http://127.0.0.1:${ports.get(vmId)}/cgi-bin/macs`);
        return res.status === 200 ? res.body.toString() : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      return body.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    },
    tapExists: (name) => tapExists({ name }),
    async cleanup() {
      for (const s of await driver.list().catch(() => [])) await driver.destroy(s.id).catch(() => {});
      for (const n of [1, 2, 3]) await deleteTap({ name: hotTap(n) }).catch(() => {});
      await driver.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});
