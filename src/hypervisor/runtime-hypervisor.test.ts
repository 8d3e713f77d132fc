import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Driver } from './driver.js';
import type { VmRunState, VmStatus } from './hypervisor.js';
import type { VmSpec } from './vm-spec.js';
import { RuntimeHypervisor } from './runtime-hypervisor.js';
import { VmExistsError, VmNotFoundError, VmStateError } from './hypervisor-errors.js';
import { ValidationError } from '../errors/validation-error.js';
import { InvalidVmIdError } from '../core/vm-id.js';

/**
 * A driver with no rules of its own: it does whatever it is asked, records
 * every call, and would happily start a VM twice or resume a postmigrate
 * copy. Whatever is refused here is refused by the wrapper.
 */
function lawlessDriver(): Driver & { calls: string[]; vms: Map<string, { spec: VmSpec; state: VmRunState }>; release(): void } {
  const vms = new Map<string, { spec: VmSpec; state: VmRunState }>();
  const calls: string[] = [];
  // Starts wait here until the test lets them through, so a launch can be caught half-way.
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const get = (id: string): { spec: VmSpec; state: VmRunState } => {
    const vm = vms.get(id);
    if (!vm) throw new VmNotFoundError(id);
    return vm;
  };
  const status = async (id: string): Promise<VmStatus> => ({ id, state: get(id).state });
  return {
    kind: 'lawless',
    kvm: false,
    calls,
    vms,
    release: () => release(),
    has: (id) => vms.has(id),
    specOf: (id) => get(id).spec,
    start: async (spec) => {
      calls.push(`start ${spec.id}`);
      await gate;
      vms.set(spec.id, { spec, state: 'running' });
      return status(spec.id);
    },
    restore: async (spec) => {
      calls.push(`restore ${spec.id}`);
      vms.set(spec.id, { spec, state: 'running' });
      return status(spec.id);
    },
    status: async (id) => status(id),
    list: async () => Promise.all([...vms.keys()].map(status)),
    adopt: async () => [],
    shutdown: async (id) => {
      vms.delete(id);
      return { clean: true };
    },
    reboot: async () => ({ clean: true }),
    pause: async (id) => {
      calls.push(`pause ${id}`);
      get(id).state = 'paused';
    },
    resume: async (id) => {
      calls.push(`resume ${id}`);
      get(id).state = 'running';
    },
    destroy: async (id) => {
      calls.push(`destroy ${id}`);
      vms.delete(id);
    },
    save: async (id) => {
      calls.push(`save ${id}`);
      return { bytes: 1, durationMs: 1 };
    },
    stats: async () => ({ cpuTimeMs: 1, vcpuTimeMs: 1, rssBytes: 1, memoryBytes: 1, diskReadBytes: 0, diskWriteBytes: 0, diskReadOps: 0, diskWriteOps: 0, netRxBytes: 0, netTxBytes: 0, incarnation: '1' }),
    close: async () => {},
    nics: {
      attach: async (id, nic) => {
        calls.push(`attach nic ${nic.id}`);
        const vm = get(id);
        vm.spec = { ...vm.spec, nics: [...vm.spec.nics, nic] };
      },
      detach: async (id, nicId) => {
        calls.push(`detach nic ${nicId}`);
      },
    },
    snapshots: {
      create: async (id, diskId, name) => {
        calls.push(`snapshot ${diskId} ${name}`);
        return { name, id: '1', createdAt: new Date().toISOString(), vmClockSec: 0 };
      },
      list: async () => [],
      delete: async () => {},
    },
    consoles: {
      logPath: (id) => `/run/${id}/console.log`,
      socketPath: (id) => `/run/${id}/console.sock`,
    },
  };
}

async function withSetup(fn: (hv: RuntimeHypervisor, d: ReturnType<typeof lawlessDriver>, spec: (id: string) => Record<string, unknown>, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-rt-'));
  try {
    const kernel = join(dir, 'vmlinuz');
    const raw = join(dir, 'disk.raw');
    await writeFile(kernel, 'k');
    await writeFile(raw, '');
    const d = lawlessDriver();
    const hv = new RuntimeHypervisor(d, { allowedDirs: [dir] });
    await fn(hv, d, (id) => ({ id, vcpus: 1, memoryMiB: 128, boot: { kind: 'kernel', kernel }, disks: [{ id: 'root', path: raw, format: 'raw' }] }), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a second start of an id whose launch is still under way is refused before the driver sees it', async () => {
  await withSetup(async (hv, d, spec) => {
    const first = hv.start(spec('vm-a'));
    const second = hv.start(spec('vm-a'));
    await assert.rejects(second, VmExistsError);
    // The first launch has not reached the driver's map yet: the claim, not the driver, refused the second.
    assert.equal(d.vms.size, 0);
    d.release();
    assert.equal((await first).state, 'running');
    await assert.rejects(hv.start(spec('vm-a')), VmExistsError);
    assert.deepEqual(d.calls, ['start vm-a']);
  });
});

test('a spec is parsed and its files confined before the driver is called', async () => {
  await withSetup(async (hv, d, spec) => {
    await assert.rejects(hv.start({ ...spec('vm-b'), vcpus: 0 }), (err: unknown) => err instanceof ValidationError && err.field === 'vcpus');
    await assert.rejects(hv.start({ ...spec('vm-b'), disks: [{ id: 'root', path: '/etc/passwd', format: 'raw' }] }), (err: unknown) => err instanceof ValidationError && err.field === 'disks.0.path');
    await assert.rejects(hv.restore(spec('vm-b'), '/etc/nubo.state'), (err: unknown) => err instanceof ValidationError && err.field === 'statePath');
    assert.deepEqual(d.calls, []);
  });
});

test('a console log is confined too: its directory when it is not there yet, the file itself (no link out) when it is', async () => {
  await withSetup(async (hv, d, spec, dir) => {
    const refused = (field: string) => (err: unknown) => err instanceof ValidationError && err.field === field;
    await assert.rejects(hv.start({ ...spec('vm-l'), consoleLog: '/etc/console.log' }), refused('consoleLog'));
    await assert.rejects(hv.start({ ...spec('vm-l'), consoleLog: join(dir, 'no-such-dir', 'console.log') }), refused('consoleLog'));
    await symlink('/etc/passwd', join(dir, 'linked.log'));
    await assert.rejects(hv.start({ ...spec('vm-l'), consoleLog: join(dir, 'linked.log') }), refused('consoleLog'));
    assert.deepEqual(d.calls, []);
    const started = hv.start({ ...spec('vm-l'), consoleLog: join(dir, 'console.log') });
    d.release();
    assert.equal((await started).state, 'running');
    assert.deepEqual(d.calls, ['start vm-l']);
  });
});

test('a postmigrate VM is never resumed, and actions only run from the states that allow them', async () => {
  await withSetup(async (hv, d, spec, dir) => {
    const started = hv.start(spec('vm-c'));
    d.release();
    await started;
    d.vms.get('vm-c')!.state = 'postmigrate';
    await assert.rejects(hv.resume('vm-c'), (err: unknown) => err instanceof VmStateError && /two copies/.test(err.message));
    await assert.rejects(hv.pause('vm-c'), VmStateError);
    await assert.rejects(hv.reboot('vm-c'), VmStateError);
    // A save is the driver's to decide there: an interrupted save of its own leaves QEMU so, a live migration's source too.
    await hv.save('vm-c', join(dir, 'vm-c.state'));
    d.vms.get('vm-c')!.state = 'crashed';
    await assert.rejects(hv.stats('vm-c'), VmStateError);
    await assert.rejects(hv.save('vm-c', join(dir, 'vm-c.state')), VmStateError);
    assert.deepEqual(d.calls, ['start vm-c', 'save vm-c']);
  });
});

test('ids that cannot name a VM never reach the driver', async () => {
  await withSetup(async (hv, d) => {
    await assert.rejects(hv.status('../etc'), VmNotFoundError);
    await assert.rejects(hv.pause('a/b'), VmNotFoundError);
    await hv.destroy('../../x');
    assert.throws(() => hv.consoles!.logPath('../../etc/shadow'), InvalidVmIdError);
    assert.equal(hv.consoles!.logPath('vm-d'), '/run/vm-d/console.log');
    assert.deepEqual(d.calls, []);
  });
});

test('hot-plugs: the same NIC again, a conflicting NIC, a NIC not there and a snapshot of a raw disk stop at the wrapper', async () => {
  await withSetup(async (hv, d, spec) => {
    const started = hv.start(spec('vm-e'));
    d.release();
    await started;
    const nic = { kind: 'tap', id: 'n1', mac: '52:54:00:00:30:01', ifname: 'tx-n1' };
    await hv.nics!.attach('vm-e', nic);
    await hv.nics!.attach('vm-e', nic);
    await assert.rejects(hv.nics!.attach('vm-e', { ...nic, id: 'n2', ifname: 'tx-n2' }), (err: unknown) => err instanceof ValidationError && err.field === 'mac');
    await hv.nics!.detach('vm-e', 'nope');
    await assert.rejects(hv.snapshots!.create('vm-e', 'root', 's1'), (err: unknown) => err instanceof ValidationError && /only qcow2/.test(err.message));
    assert.deepEqual(d.calls, ['start vm-e', 'attach nic n1']);
    assert.equal(hv.disks, undefined, 'a capability the driver lacks is absent');
    assert.equal(hv.migration, undefined);
  });
});
