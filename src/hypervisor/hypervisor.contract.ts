import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hypervisor } from './hypervisor.js';
import type { VmSpecInput } from './vm-spec.js';
import { VmExistsError, VmNotFoundError, VmStateError } from './hypervisor-errors.js';
import { ValidationError } from '../errors/validation-error.js';
import { DiskSnapshotExistsError, DiskSnapshotNotFoundError } from './disk-snapshot.js';
import { pollUntil, sleep } from '../util/deadline.js';

/** What a driver's test setup hands the contract suite. */
export interface ContractEnv {
  driver: Hypervisor;
  /** Closes the current driver and opens a new one over the same host state (a restarted agent). */
  reopen(): Promise<Hypervisor>;
  /** A bootable spec for a VM with this id (its own disks, config drive). */
  spec(id: string): Promise<VmSpecInput>;
  /** An allowed directory to write saved state into. */
  readonly stateDir: string;
  /** An existing file outside every allowed directory. */
  readonly outsideFile: string;
  /** A fresh raw disk in an allowed directory, for hot-plug. */
  newDisk(name: string): Promise<string>;
  /** Ends the VM's process behind the driver's back. */
  killBehindBack(vmId: string): Promise<void>;
  /** Resolves once the guest is up (a real guest printed its readiness marker). */
  waitBooted(vmId: string): Promise<void>;
  /** The guest's own uptime counter, in seconds. */
  guestUptime(vmId: string): Promise<number>;
  /** A NIC to hot-plug (a TAP without a bridge), numbered `n` so that several differ in id, MAC, TAP and PCI slot. */
  nic(n: number): Record<string, unknown> & { id: string; mac: string; ifname: string };
  /** The MAC addresses of the guest's network interfaces (loopback's included for a real guest). */
  guestMacs(vmId: string): Promise<string[]>;
  /** Whether the host has this TAP; absent for drivers that make none. */
  tapExists?(name: string): Promise<boolean>;
  cleanup(): Promise<void>;
}

function isValidation(field: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.ok(err.issues.some((i) => i.field === field), `expected an issue on ${field}: ${err.message}`);
    return true;
  };
}

/**
 * One suite over every Hypervisor implementation (after Hono's router
 * contract tests): what the controller and agents rely on must hold for the
 * fake exactly as for QEMU.
 */
export function hypervisorContract(name: string, makeEnv: () => Promise<ContractEnv>): void {
  describe(`Hypervisor contract: ${name}`, () => {
    let env: ContractEnv;
    let hv: Hypervisor;
    before(async () => {
      env = await makeEnv();
      hv = env.driver;
    });
    after(async () => {
      for (const s of await hv.list().catch(() => [])) await hv.destroy(s.id).catch(() => {});
      await env.cleanup();
    });

    it('starts a VM, reports it running, refuses a second with the same id', async () => {
      const spec = await env.spec('c-start');
      const s = await hv.start(spec);
      assert.equal(s.id, 'c-start');
      assert.equal(s.state, 'running');
      assert.ok(s.pid !== undefined && s.pid > 0);
      assert.ok((await hv.list()).some((v) => v.id === 'c-start'));
      await assert.rejects(hv.start(spec), VmExistsError);
      await hv.destroy('c-start');
      await assert.rejects(hv.status('c-start'), VmNotFoundError);
      await hv.destroy('c-start'); // idempotent
      assert.ok(!(await hv.list()).some((v) => v.id === 'c-start'));
    });

    it('rejects an invalid spec before starting anything, naming the field', async () => {
      const spec = await env.spec('c-bad');
      const before = (await hv.list()).length;
      await assert.rejects(hv.start({ ...spec, vcpus: 0 }), isValidation('vcpus'));
      await assert.rejects(hv.start({ ...spec, memoryMiB: -5 }), isValidation('memoryMiB'));
      await assert.rejects(hv.start({ ...spec, memoryMiB: '1G' }), isValidation('memoryMiB'));
      const disks = spec.disks ?? [];
      assert.ok(disks.length > 0, 'the bootable spec has a disk');
      await assert.rejects(hv.start({ ...spec, disks: [{ ...disks[0]!, format: 'vhdx' }] }), isValidation('disks.0.format'));
      await assert.rejects(hv.start({ ...spec, disks: [{ ...disks[0]!, path: join(env.stateDir, 'missing.qcow2') }] }), isValidation('disks.0.path'));
      await assert.rejects(hv.start({ ...spec, disks: [{ ...disks[0]!, path: env.outsideFile }] }), (err: unknown) => {
        assert.ok(isValidation('disks.0.path')(err));
        assert.match((err as Error).message, /outside the allowed directories/);
        return true;
      });
      await assert.rejects(hv.start({ ...spec, nics: [{ kind: 'tap', id: 'eth0', mac: '52:54:00:zz:00:01', ifname: 'tx0' }] }), isValidation('nics.0.mac'));
      assert.equal((await hv.list()).length, before);
      await assert.rejects(hv.status('c-bad'), VmNotFoundError);
    });

    it('starts paused when asked; pause and resume; refuses actions from the wrong state', async () => {
      await hv.start(await env.spec('c-pause'), { paused: true });
      assert.equal((await hv.status('c-pause')).state, 'paused');
      await assert.rejects(hv.pause('c-pause'), (err: unknown) => err instanceof VmStateError && /paused/.test(err.message));
      await hv.resume('c-pause');
      assert.equal((await hv.status('c-pause')).state, 'running');
      await assert.rejects(hv.resume('c-pause'), (err: unknown) => err instanceof VmStateError && err.state === 'running');
      await env.waitBooted('c-pause');
      await hv.pause('c-pause');
      assert.equal((await hv.status('c-pause')).state, 'paused');
      const u1 = await hv.stats('c-pause');
      await hv.resume('c-pause');
      assert.equal((await hv.status('c-pause')).state, 'running');
      assert.equal(u1.memoryBytes, 128 * 1024 * 1024);
      assert.ok(u1.cpuTimeMs > 0 && u1.rssBytes > 0);
      await hv.destroy('c-pause');
    });

    it('reads usage counters that grow while the guest runs, and a new incarnation for a new process', async () => {
      await hv.start(await env.spec('c-stats'));
      await env.waitBooted('c-stats');
      const a = await hv.stats('c-stats');
      // The guest mounted its data disk while booting, and its vCPUs are part of the process's CPU time.
      assert.ok(a.diskReadBytes > 0 && a.diskReadOps > 0, `disk reads ${a.diskReadBytes} in ${a.diskReadOps} requests`);
      assert.ok(a.vcpuTimeMs > 0 && a.vcpuTimeMs <= a.cpuTimeMs, `vCPU ${a.vcpuTimeMs} ms of ${a.cpuTimeMs} ms`);
      for (const k of ['diskWriteBytes', 'diskWriteOps', 'netRxBytes', 'netTxBytes'] as const) assert.ok(Number.isInteger(a[k]) && a[k] >= 0, `${k} = ${a[k]}`);
      await sleep(1_500);
      const b = await hv.stats('c-stats');
      assert.equal(b.incarnation, a.incarnation);
      assert.ok(b.cpuTimeMs >= a.cpuTimeMs && b.diskReadBytes >= a.diskReadBytes);
      await hv.destroy('c-stats');
      await assert.rejects(hv.stats('c-stats'), VmNotFoundError);
      await hv.start(await env.spec('c-stats'));
      assert.notEqual((await hv.stats('c-stats')).incarnation, a.incarnation);
      await hv.destroy('c-stats');
    });

    it('measures how fast a running guest dirties memory; refuses a paused VM, a bad measuring time and an unknown VM', async () => {
      assert.ok(hv.dirtyRate, 'the driver measures dirty rates');
      await hv.start(await env.spec('c-dirty'));
      await env.waitBooted('c-dirty');
      const r = await hv.dirtyRate.measure('c-dirty', 1, { timeoutMs: 30_000 });
      assert.ok(Number.isFinite(r.dirtyBytesPerSec) && r.dirtyBytesPerSec >= 0, `dirty rate ${r.dirtyBytesPerSec}`);
      assert.equal(r.calcTimeS, 1);
      assert.ok(r.mode.length > 0);
      await assert.rejects(hv.dirtyRate.measure('c-dirty', 0), (err: unknown) => err instanceof ValidationError && /calcTimeS/.test(JSON.stringify(err.details)));
      await hv.pause('c-dirty');
      await assert.rejects(hv.dirtyRate.measure('c-dirty', 1), (err: unknown) => err instanceof VmStateError && err.state === 'paused');
      await hv.destroy('c-dirty');
      await assert.rejects(hv.dirtyRate.measure('c-dirty', 1), VmNotFoundError);
    });

    it('shuts down: the guest powers off and the VM is gone', async () => {
      await hv.start(await env.spec('c-off'));
      await env.waitBooted('c-off');
      const r = await hv.shutdown('c-off', { timeoutMs: 30_000 });
      assert.equal(r.clean, true);
      await assert.rejects(hv.status('c-off'), VmNotFoundError);
    });

    it('reboots by asking the guest (same process, uptime starts again); a hard reboot resets at once and says so', async () => {
      const s = await hv.start(await env.spec('c-reboot'));
      await env.waitBooted('c-reboot');
      await sleep(3_000);
      const before = await env.guestUptime('c-reboot');
      const measuredAt = Date.now();
      assert.deepEqual(await hv.reboot('c-reboot', { graceMs: 60_000 }), { clean: true });
      const after = await hv.status('c-reboot');
      assert.equal(after.state, 'running');
      assert.equal(after.pid, s.pid, 'the same process: the guest rebooted inside it');
      // The guest answers again once it has booted (the console already holds the first boot's marker).
      const again = await pollUntil('the guest back after the reboot', async () => env.guestUptime('c-reboot').catch(() => undefined), { timeoutMs: 120_000, intervalMs: 500 });
      // Without a reboot the uptime would have gone on from `before` with the wall clock; a reboot started it again
      // at a moment after `before` was measured, so it is behind that by at least `before` (less the clock's slack).
      // Comparing with `before` alone failed under load, when the second boot took longer than the first boot + 3 s.
      const withoutReboot = before + (Date.now() - measuredAt) / 1000;
      assert.ok(again < withoutReboot - 2, `the guest booted again: uptime ${before} s, then ${again} s where no reboot would show ${withoutReboot.toFixed(2)} s`);
      const hard = await hv.reboot('c-reboot', { hard: true });
      assert.equal(hard.clean, false);
      assert.match(hard.reason ?? '', /hard/);
      assert.equal((await hv.status('c-reboot')).state, 'running');
      await hv.destroy('c-reboot');
    });

    it('saves and restores: the guest keeps its uptime (no reboot)', async () => {
      const spec = await env.spec('c-save');
      await hv.start(spec);
      await env.waitBooted('c-save');
      await sleep(1_000);
      const before = await env.guestUptime('c-save');
      const path = join(env.stateDir, 'c-save.state');
      const saved = await hv.save('c-save', path);
      assert.ok(saved.bytes > 0);
      assert.equal((await stat(path)).size, saved.bytes);
      await assert.rejects(hv.status('c-save'), VmNotFoundError);
      const s = await hv.restore(spec, path);
      assert.equal(s.state, 'running');
      const afterRestore = await env.guestUptime('c-save');
      assert.ok(afterRestore >= before, `uptime went on: ${before} → ${afterRestore}`);
      assert.ok(afterRestore < before + 30, `no reboot and no time lost to the save: ${before} → ${afterRestore}`);
      await hv.destroy('c-save');
    });

    it('refuses to save to or restore from a path outside the allowed directories', async () => {
      const spec = await env.spec('c-savebad');
      await hv.start(spec);
      await assert.rejects(hv.save('c-savebad', '/etc/nubo-state'), isValidation('statePath'));
      assert.equal((await hv.status('c-savebad')).state, 'running');
      await hv.destroy('c-savebad');
      await assert.rejects(hv.restore(spec, join(env.stateDir, 'never-saved.state')), isValidation('statePath'));
      await assert.rejects(hv.status('c-savebad'), VmNotFoundError);
    });

    it('hot-plugs and unplugs a disk', async () => {
      await hv.start(await env.spec('c-disk'));
      await env.waitBooted('c-disk');
      const path = await env.newDisk('c-disk-extra.raw');
      await hv.disks!.attach('c-disk', { id: 'extra', path, format: 'raw' });
      await assert.rejects(hv.disks!.attach('c-disk', { id: 'extra', path, format: 'raw' }), isValidation('id'));
      await assert.rejects(hv.disks!.attach('c-disk', { id: 'other', path: env.outsideFile, format: 'raw' }), isValidation('path'));
      await hv.disks!.detach('c-disk', 'extra');
      await assert.rejects(hv.disks!.detach('c-disk', 'extra'), isValidation('diskId'));
      assert.equal((await hv.status('c-disk')).state, 'running');
      await hv.destroy('c-disk');
    });

    it('hot-plugs and unplugs a NIC: the guest sees it come and go; idempotent; a restarted driver still removes its TAP', async () => {
      assert.ok(hv.nics, 'the driver hot-plugs NICs');
      const attach = (id: string, nic: unknown): Promise<void> => hv.nics!.attach(id, nic);
      const detach = (id: string, nicId: string): Promise<void> => hv.nics!.detach(id, nicId);
      await hv.start(await env.spec('c-nic'));
      await env.waitBooted('c-nic');
      const nic = env.nic(1);
      const macs = async (): Promise<string[]> => env.guestMacs('c-nic');
      const seen = async (mac: string, want: boolean): Promise<void> => {
        await pollUntil(`guest ${want ? 'sees' : 'lost'} ${mac}`, async () => ((await macs()).includes(mac) === want ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
      };
      assert.ok(!(await macs()).includes(nic.mac));
      await attach('c-nic', nic);
      await attach('c-nic', nic); // the same NIC again: nothing to do
      await seen(nic.mac, true);
      if (env.tapExists) assert.equal(await env.tapExists(nic.ifname), true, 'the TAP was made');
      await assert.rejects(attach('c-nic', { ...env.nic(2), id: nic.id }), isValidation('id'));
      await assert.rejects(attach('c-nic', { ...env.nic(2), mac: nic.mac }), isValidation('mac'));
      await assert.rejects(attach('c-nic', { ...env.nic(2), pciSlot: nic['pciSlot'] }), isValidation('pciSlot'));
      await assert.rejects(attach('c-nic', { ...env.nic(2), mac: '53:54:00:00:00:01' }), isValidation('mac'));
      await assert.rejects(attach('c-nope', env.nic(2)), VmNotFoundError);
      await detach('c-nic', nic.id);
      await detach('c-nic', nic.id); // already gone: nothing to do
      await seen(nic.mac, false);
      if (env.tapExists) assert.equal(await env.tapExists(nic.ifname), false, 'the TAP was removed');
      assert.equal((await hv.status('c-nic')).state, 'running');

      const second = env.nic(3);
      await attach('c-nic', second);
      await seen(second.mac, true);
      hv = await env.reopen();
      await hv.adopt();
      await hv.pause('c-nic');
      await assert.rejects(detach('c-nic', second.id), (err: unknown) => err instanceof VmStateError && err.state === 'paused');
      await hv.destroy('c-nic');
      if (env.tapExists) assert.equal(await env.tapExists(second.ifname), false, 'destroy after adoption removed the hot-plugged NIC\'s TAP');
    });

    it('takes, lists and deletes disk snapshots of a running VM; refuses a duplicate, an unknown name and a missing disk', async () => {
      const hvs = hv.snapshots!;
      const spec = await env.spec('c-snap');
      const disk = (spec.disks ?? [])[0]!.id;
      await hv.start(spec);
      assert.deepEqual(await hvs.list('c-snap', disk), []);
      const a = await hvs.create('c-snap', disk, 'a');
      assert.equal(a.name, 'a');
      assert.ok(Math.abs(Date.parse(a.createdAt) - Date.now()) < 60_000, a.createdAt);
      await hvs.create('c-snap', disk, 'b');
      assert.deepEqual((await hvs.list('c-snap', disk)).map((s) => s.name), ['a', 'b']);
      await assert.rejects(hvs.create('c-snap', disk, 'a'), (err: unknown) => err instanceof DiskSnapshotExistsError && err.code === 'SNAPSHOT_EXISTS');
      await assert.rejects(hvs.delete('c-snap', disk, 'zz'), (err: unknown) => err instanceof DiskSnapshotNotFoundError && err.code === 'SNAPSHOT_NOT_FOUND');
      await assert.rejects(hvs.create('c-snap', 'nope', 'c'), isValidation('diskId'));
      await hvs.delete('c-snap', disk, 'a');
      assert.deepEqual((await hvs.list('c-snap', disk)).map((s) => s.name), ['b']);
      await hv.pause('c-snap');
      await hvs.delete('c-snap', disk, 'b');
      assert.deepEqual(await hvs.list('c-snap', disk), []);
      await hv.destroy('c-snap');
      await assert.rejects(hvs.list('c-snap', disk), VmNotFoundError);
    });

    it('a VM killed behind its back is reported crashed promptly, and calls fail fast', async () => {
      await hv.start(await env.spec('c-kill'));
      await env.killBehindBack('c-kill');
      const t0 = Date.now();
      const s = await pollUntil('crash noticed', async () => {
        const st = await hv.status('c-kill', { timeoutMs: 2_000 });
        return st.state === 'crashed' ? st : undefined;
      }, { timeoutMs: 2_000, intervalMs: 50 });
      assert.ok(Date.now() - t0 < 2_000);
      assert.match(s.reason ?? '', /exit|gone/);
      await assert.rejects(hv.pause('c-kill', { timeoutMs: 2_000 }), VmStateError);
      await hv.destroy('c-kill');
      await assert.rejects(hv.status('c-kill'), VmNotFoundError);
    });

    it('a restarted driver adopts the VMs that kept running', async () => {
      await hv.start(await env.spec('c-adopt'));
      hv = await env.reopen();
      await assert.rejects(hv.status('c-adopt'), VmNotFoundError);
      const adopted = await hv.adopt();
      const mine = adopted.find((v) => v.id === 'c-adopt');
      assert.equal(mine?.state, 'running');
      await hv.pause('c-adopt');
      assert.equal((await hv.status('c-adopt')).state, 'paused');
      await hv.destroy('c-adopt');
      await assert.rejects(hv.status('c-adopt'), VmNotFoundError);
    });
  });
}
