import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeDriver, FakeHost } from './fake-driver.js';
import { hypervisorContract } from '../hypervisor.contract.js';

hypervisorContract('fake', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nubo-fake-'));
  const allowed = join(root, 'ds');
  await mkdir(allowed);
  const outsideFile = join(root, 'outside.raw');
  await writeFile(outsideFile, '');
  const host = new FakeHost();
  let driver = new FakeDriver({ allowedDirs: [allowed], host });
  const kernel = join(allowed, 'vmlinuz');
  await writeFile(kernel, 'kernel');
  return {
    get driver() {
      return driver;
    },
    async reopen() {
      await driver.close();
      driver = new FakeDriver({ allowedDirs: [allowed], host });
      return driver;
    },
    async spec(id) {
      const disk = join(allowed, `${id}.qcow2`);
      await writeFile(disk, '');
      return { id, vcpus: 1, memoryMiB: 128, boot: { kind: 'kernel', kernel }, disks: [{ id: 'root', path: disk, format: 'qcow2' }] };
    },
    stateDir: allowed,
    outsideFile,
    async newDisk(name) {
      const p = join(allowed, name);
      await writeFile(p, Buffer.alloc(1024 * 1024));
      return p;
    },
    async killBehindBack(vmId) {
      driver.crash(vmId);
    },
    async waitBooted() {},
    async guestUptime(vmId) {
      return driver.uptimeSeconds(vmId);
    },
    nic(n) {
      return { kind: 'tap', id: `hot${n}`, mac: `52:54:00:00:20:${n.toString(16).padStart(2, '0')}`, ifname: `tx-hot${n}`, pciSlot: 0x10 + n };
    },
    async guestMacs(vmId) {
      return driver.specOf(vmId).nics.map((n) => n.mac);
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
});
