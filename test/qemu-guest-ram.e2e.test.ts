import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { findGuestMemfd } from '../src/hypervisor/qemu/ram-state-save.js';
import { readRamStateHeader } from '../src/hypervisor/qemu/ram-state-header.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { imageCacheDir } from '../src/util/nubo-home.js';

// The guest RAM of every QEMU: a memfd the fd sender makes, mapped by QEMU on a 2 MiB boundary (align=2M), so that it
// can take transparent huge pages; the sender keeps no descriptor of it; a save finds it, also after an adoption.
// No guest needs to boot for any of it: QEMU maps its RAM as it starts.

const MIB = 1024 * 1024;
let image: TinyImage;
let root: string;
let ds: string;
let runDir: string;
let driver: QemuDriver;

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-ram-'));
  ds = join(root, 'ds');
  runDir = join(root, 'run');
  await mkdir(ds);
  driver = await QemuDriver.create({ runDir, allowedDirs: [ds, image.dir] });
});

after(async () => {
  for (const s of await driver.list().catch(() => [])) await driver.destroy(s.id).catch(() => {});
  await driver.close();
  await rm(root, { recursive: true, force: true });
});

const spec = (id: string): ReturnType<typeof prepareTinyVm> => prepareTinyVm({ image, dir: ds, id, memoryMiB: 128 });

async function pidOf(d: QemuDriver, id: string): Promise<number> {
  const { pid } = await d.status(id);
  assert.ok(pid !== undefined, `${id} has a pid`);
  return pid;
}

interface Mapping {
  readonly start: number;
  readonly path: string;
  readonly fields: ReadonlyMap<string, string>;
}

/** The mappings of `pid` of exactly `bytes`, with their smaps fields. */
async function mappingsOf(pid: number, bytes: number): Promise<Mapping[]> {
  const out: Mapping[] = [];
  let cur: { start: number; end: number; path: string; fields: Map<string, string> } | undefined;
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      if (cur && cur.end - cur.start === bytes) out.push(cur);
      cur = { start: parseInt(head[1]!, 16), end: parseInt(head[2]!, 16), path: head[3]!, fields: new Map() };
      continue;
    }
    const field = /^(\w+):\s*(.*)$/.exec(line);
    if (field && cur) cur.fields.set(field[1]!, field[2]!);
  }
  if (cur && cur.end - cur.start === bytes) out.push(cur);
  return out;
}

/** Whether the kernel gives shared memory huge pages where a mapping asks (QEMU madvises its RAM with MADV_HUGEPAGE). */
async function shmemHugeOnRequest(): Promise<boolean> {
  const policy = await readFile('/sys/kernel/mm/transparent_hugepage/shmem_enabled', 'utf8').catch(() => '');
  return ['always', 'within_size', 'advise', 'force'].some((p) => policy.includes(`[${p}]`));
}

/** This process's python3 children: the fd sender of each driver open in it. */
async function senderPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const n of await readdir('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const stat = await readFile(`/proc/${n}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
    if (m && m[1]!.startsWith('python') && Number(m[2]) === process.pid) pids.push(Number(n));
  }
  return pids;
}

/** How many memfds `pid` holds open. */
async function memfdsOf(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')).startsWith('/memfd:')) n++;
  return n;
}

test('a fresh QEMU\'s guest RAM under KVM is the sender\'s memfd, mapped on a 2 MiB boundary: huge pages where the policy allows; under TCG QEMU\'s own memfd', async () => {
  await driver.start(await spec('r-fresh'));
  const pid = await pidOf(driver, 'r-fresh');
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  if (!driver.kvm) {
    // Huge pages lengthen a TCG guest's live-migration stop-and-copy (qemu-core-driver.ts): 4 KiB pages there.
    assert.ok(cmdline.some((a) => /^memory-backend-memfd,id=pc\.ram,/.test(a)), cmdline.join(' '));
    assert.ok(await findGuestMemfd(pid, 128 * MIB), 'a save finds the guest RAM among QEMU\'s descriptors');
    await driver.destroy('r-fresh');
    return;
  }
  assert.ok(cmdline.some((a) => /^memory-backend-file,id=pc\.ram,.*mem-path=\/proc\/\d+\/fd\/\d+,share=on,align=2M$/.test(a)), cmdline.join(' '));
  const ram = (await mappingsOf(pid, 128 * MIB)).filter((m) => m.path.includes('memfd:nubo-ram'));
  assert.equal(ram.length, 1, 'one mapping of the guest RAM, from the sender\'s memfd');
  assert.equal(ram[0]!.start % (2 * MIB), 0, 'on a 2 MiB boundary');
  if (await shmemHugeOnRequest()) assert.equal(ram[0]!.fields.get('THPeligible'), '1');
  assert.ok(await findGuestMemfd(pid, 128 * MIB), 'a save finds the guest RAM among QEMU\'s descriptors');
  await driver.destroy('r-fresh');
});

test('the sender keeps no memfd of a VM: none left after boots and terminates', async () => {
  await driver.start(await spec('r-n0'));
  if (!driver.kvm) {
    // Under TCG a boot asks the sender for nothing (QEMU's own memfd): any sender running holds none after boots and ends.
    for (let i = 1; i <= 3; i++) {
      await driver.start(await spec(`r-n${i}`));
      await driver.destroy(`r-n${i}`);
    }
    for (const pid of await senderPids()) assert.equal(await memfdsOf(pid), 0);
    await driver.destroy('r-n0');
    return;
  }
  const [sender] = await senderPids();
  assert.ok(sender !== undefined, 'the driver runs an fd sender');
  const before = await memfdsOf(sender);
  for (let i = 1; i <= 3; i++) {
    await driver.start(await spec(`r-n${i}`));
    await driver.destroy(`r-n${i}`);
  }
  assert.equal(await memfdsOf(sender), before);
  assert.equal(before, 0, 'not even the running VM\'s');
  await driver.destroy('r-n0');
});

test('after the driver restarts (its sender with it) the adopted VM is saved and restored from its memfd', async () => {
  const s = await spec('r-adopt');
  await driver.start(s);
  await driver.close();
  driver = await QemuDriver.create({ runDir, allowedDirs: [ds, image.dir] });
  const adopted = await driver.adopt();
  assert.equal(adopted.find((v) => v.id === 'r-adopt')?.state, 'running');
  const statePath = join(ds, 'r-adopt.state');
  await driver.save('r-adopt', statePath);
  assert.equal((await readRamStateHeader(statePath)).kind, 'v2', 'saved in format 2: the RAM copied from the memfd QEMU holds');
  assert.equal((await driver.restore(s, statePath)).state, 'running');
  await driver.destroy('r-adopt');
});

test('without the sender (python off) QEMU makes its own memfd and the VM still boots', async () => {
  const plain = await QemuDriver.create({ runDir: join(root, 'run-plain'), allowedDirs: [ds, image.dir], python: false });
  try {
    await plain.start(await spec('r-plain'));
    const pid = await pidOf(plain, 'r-plain');
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    assert.ok(cmdline.includes('memory-backend-memfd,id=pc.ram,size=128M,share=on'), cmdline.join(' '));
    assert.ok(await findGuestMemfd(pid, 128 * MIB));
    await plain.destroy('r-plain');
  } finally {
    await plain.close();
  }
});
