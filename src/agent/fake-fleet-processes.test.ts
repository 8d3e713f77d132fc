import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '../util/deadline.js';
import { CommandError } from '../errors/command-error.js';
import { FakeFleetProcesses } from './fake-fleet-processes.js';
import type { FleetChildReport, FleetChildStart } from './fake-fleet-messages.js';

const capacity = { cpus: 4, memoryMiB: 4096, diskMiB: 100_000 };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** This process's children now (by the kernel's list): a fleet must leave none behind. */
async function childPids(): Promise<number[]> {
  const text = await readFile(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
  return text.split(' ').filter((s) => s.trim() !== '').map(Number);
}

/** A stand-in for the controller's heartbeat route: takes every beat, counts them by host name. */
async function beatCounter(): Promise<{ url: string; beats: Map<string, number>; server: Server }> {
  const beats = new Map<string, number>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const name = (JSON.parse(body) as { name: string }).name;
      beats.set(name, (beats.get(name) ?? 0) + 1);
      res.end('{}');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, beats, server };
}

test('a fleet split over processes: every host a real agent in a child process, named on across them, beating; close leaves no process behind', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nubo-fleet-procs-'));
  const ctl = await beatCounter();
  const before = await childPids();
  let fleet: FakeFleetProcesses | undefined;
  try {
    fleet = await FakeFleetProcesses.start({ hosts: 5, processes: 2, rootDir: root, capacity, controllerUrl: ctl.url, heartbeatIntervalMs: 200 });
    const f = fleet;
    assert.deepEqual(f.hosts.map((h) => h.name), ['f1', 'f2', 'f3', 'f4', 'f5']);
    assert.equal(new Set(f.hosts.map((h) => h.url)).size, 5);
    assert.equal(f.pids.length, 2);
    assert.ok(f.pids.every((pid) => pid !== process.pid && alive(pid)));
    assert.deepEqual((await childPids()).filter((p) => !before.includes(p)).sort(), [...f.pids].sort());
    // Each is the real agent API, with its own token: the report names the host, another host's token is refused.
    for (const h of f.hosts) {
      const r = await fetch(`${h.url}/agent/v1/host`, { headers: { authorization: `Bearer ${h.token}` } });
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { name: string }).name, h.name);
    }
    assert.equal((await fetch(`${f.hosts[0]!.url}/agent/v1/host`, { headers: { authorization: `Bearer ${f.hosts[1]!.token}` } })).status, 401);

    assert.equal(await f.beatAll(), 5, 'one beat of each host, taken');
    assert.deepEqual([...ctl.beats.keys()].sort(), ['f1', 'f2', 'f3', 'f4', 'f5']);
    await f.startBeating();
    await f.setSilent('f4', true);
    const f4 = ctl.beats.get('f4')!;
    await pollUntil('every other host beat 3 more times', () => (['f1', 'f2', 'f3', 'f5'].every((n) => (ctl.beats.get(n) ?? 0) >= 4) ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    assert.ok(ctl.beats.get('f4')! <= f4 + 1, 'a silent host beats no more (one may have been on its way)');
    await f.stopBeating();
    const s = await f.stats();
    assert.equal(s.processes.length, 2);
    assert.deepEqual(s.processes.map((p) => p.hosts), [3, 2]);
    assert.equal(s.sent, s.processes.reduce((a, p) => a + p.sent, 0));
    assert.ok(s.taken >= 5 + 12 && s.taken <= s.sent, `taken ${s.taken} of ${s.sent}`);
    assert.ok(s.maxGapMs > 0 && s.maxGapMs === Math.max(...s.processes.map((p) => p.maxGapMs)));
    await assert.rejects(f.setSilent('f9', true), /no host f9/);
    const pids = [...f.pids];
    await f.close();
    fleet = undefined;
    assert.deepEqual(pids.filter(alive), [], 'every fleet process ended');
    assert.deepEqual((await childPids()).filter((p) => !before.includes(p)), []);
  } finally {
    await fleet?.close();
    await new Promise<void>((ok) => ctl.server.close(() => ok()));
    await rm(root, { recursive: true, force: true });
  }
});

test('a fleet process that cannot start fails the start with its reason, and every process of the fleet is ended', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nubo-fleet-procs-'));
  const before = await childPids();
  try {
    await assert.rejects(
      FakeFleetProcesses.start({ hosts: 4, processes: 2, rootDir: root, capacity: { ...capacity, cpus: 0 } }),
      (err) => err instanceof CommandError && /fake fleet process \d/.test(err.message) && /capacity\.cpus/.test(err.message),
    );
    await pollUntil('no fleet process left', async () => ((await childPids()).filter((p) => !before.includes(p)).length === 0 ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    await assert.rejects(FakeFleetProcesses.start({ hosts: 2, processes: 3, rootDir: root, capacity }), /processes: must be a whole number from 1 to the number of hosts, 2 \(got 3\)/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a fleet process whose parent is gone (its IPC channel closed) ends by itself', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nubo-fleet-procs-'));
  const child = fork(join(import.meta.dirname, 'fake-fleet-child.js'), [], { execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  try {
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    const ready = new Promise<FleetChildReport>((ok) => child.once('message', (m: FleetChildReport) => ok(m)));
    child.send({ type: 'start', options: { hosts: 2, rootDir: root, capacity } } satisfies FleetChildStart);
    const r = await ready;
    assert.equal(r.type, 'ready');
    // What the kernel does when the parent dies: the channel closes. The process must not stay with its agents.
    child.disconnect();
    const code = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok('still running'), 15_000).unref())]);
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
});
