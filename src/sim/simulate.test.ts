import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readLwf } from './read-lwf.js';
import { simulate, type SimEvent } from './simulate.js';
import { compileSimConfig } from './sim-config.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/haizea/scenarios/', import.meta.url));
/** Scenarios of our own, in Haizea's LWF. */
const OWN = fileURLToPath(new URL('../../../test/fixtures/leases/', import.meta.url));

/*
 * Golden scenarios: Haizea's LWF files through the simulator, every time
 * worked out by hand from the scenario and these rates (1024 MiB VMs, 1024 MiB
 * images):
 *   prepare  = image 1024 MiB ÷ 8 MiB/s = 128 s, + boot 12 s   = 140 s (12 s when the host has the image)
 *   suspend  = memory 1024 MiB ÷ 32 MiB/s                       = 32 s
 *   resume   = 1024 MiB ÷ 16 MiB/s                              = 64 s
 *   migrate  = (memory 1024 + disk 1024 MiB) ÷ 4 MiB/s          = 512 s
 *   shutdown = 10 s
 */
const RATES = { imageTransferMiBps: 8, bootS: 12, suspendMiBps: 32, resumeMiBps: 16, migrateMiBps: 4, shutdownS: 10 };

function run(scenario: string, policies: Record<string, string> = {}, rates: Record<string, number | string> = {}, dir = FIXTURES): ReturnType<typeof simulate> {
  const workload = readLwf(readFileSync(`${dir}${scenario}.lwf`, 'utf8'), scenario);
  return simulate(workload, compileSimConfig({ rates: { ...RATES, ...rates }, policies }), { record: true });
}

/** The steps as `lease step from-until @hosts` lines, in time order (ties in the order they began). */
function timeline(events: readonly SimEvent[]): string[] {
  return events
    .map((e) => `${e.lease} ${e.step} ${e.t}${e.until !== undefined ? `-${e.until}` : ''}${e.placements ? ` @${e.placements.map((p) => p.host).join(',')}` : ''}`)
    .sort((a, b) => Number(a.split(' ')[2]!.split('-')[0]) - Number(b.split(' ')[2]!.split('-')[0]));
}

test('preemption.lwf: the AR suspends the running best-effort lease so that the suspend ends when the AR starts preparing, and the lease resumes after the AR', () => {
  const r = run('preemption');
  // BE 1 (1 node, 1 h) arrives at 0: prepares 0–140, runs from 140 (planned to 3740).
  // AR 2 (4 nodes, 30 min at 00:30 = 1800) arrives at 900: prepares 1660–1800, so BE 1's suspend must end at 1660: 1628–1660.
  // AR 2 runs 1800–3600, shuts down 3600–3610. BE 1 ran 1488 s of 3600 → 2112 s left: resume 3610–3674, run 3674–5786, shutdown 5786–5796.
  assert.deepEqual(timeline(r.events), [
    '1 prepare 0-140 @0',
    '1 run 140-3740 @0',
    '1 suspend 1628-1660 @0',
    '2 prepare 1660-1800 @0,1,2,3',
    '2 run 1800-3600 @0,1,2,3',
    '2 shutdown 3600-3610 @0,1,2,3',
    '2 done 3610',
    '1 resume 3610-3674 @0',
    '1 run 3674-5786 @0',
    '1 shutdown 5786-5796 @0',
    '1 done 5796',
  ]);
  assert.equal(r.metrics.preemptions, 1);
  assert.equal(r.metrics.allBestEffortS, 5796);
  assert.equal(r.metrics.meanWaitS, 0);
});

test('preemption_prematureend.lwf: the best-effort lease really runs 45 min, so after the resume it ends early', () => {
  const r = run('preemption_prematureend');
  // As preemption.lwf with a 15-min AR (1800–2700, shutdown to 2710). BE 1 ran 1488 of its real 2700 s → 1212 s left:
  // resume 2710–2774, planned run 2774–4886 (2112 s reserved), really ends at 2774 + 1212 = 3986, shutdown 3986–3996.
  assert.deepEqual(timeline(r.events).slice(-5), ['2 done 2710', '1 resume 2710-2774 @0', '1 run 2774-4886 @0', '1 shutdown 3986-3996 @0', '1 done 3996']);
  assert.equal(r.metrics.allBestEffortS, 3996);
});

test('preemption_prematureend2.lwf: the AR ends early too, and the best-effort lease resumes as soon as it has shut down', () => {
  const r = run('preemption_prematureend2');
  // AR 2 runs 1800 and really lasts 10 min → ends at 2400, shutdown 2400–2410; BE 1 resumes 2410–2474, runs its 1212 s to 3686, shutdown to 3696.
  assert.deepEqual(timeline(r.events).slice(-6), ['2 shutdown 2400-2410 @0,1,2,3', '2 done 2410', '1 resume 2410-2474 @0', '1 run 2474-4586 @0', '1 shutdown 3686-3696 @0', '1 done 3696']);
});

test('preemption.lwf without suspension: as Haizea (must_cancel_and_requeue), the AR is admitted and the best-effort lease it needs is requeued at once, starting over after the AR', () => {
  const r = run('preemption', { suspension: 'none' });
  assert.deepEqual(r.rejections, []);
  // BE 1 has run 760 of its 3600 s when AR 2 arrives at 900: that run is lost, its VMs end at 900 and it is queued again.
  // AR 2 as with suspension (prepare 1660–1800, run to 3600, shutdown to 3610). BE 1 needs a full hour and never fits before
  // the AR: it starts over at 3610 on host 0, which has its image (12 s boot): run 3622–7222, shutdown to 7232.
  assert.deepEqual(timeline(r.events), [
    '1 prepare 0-140 @0',
    '1 run 140-3740 @0',
    '1 requeue 900 @0',
    '2 prepare 1660-1800 @0,1,2,3',
    '2 run 1800-3600 @0,1,2,3',
    '2 shutdown 3600-3610 @0,1,2,3',
    '2 done 3610',
    '1 prepare 3610-3622 @0',
    '1 run 3622-7222 @0',
    '1 shutdown 7222-7232 @0',
    '1 done 7232',
  ]);
  assert.equal(r.metrics.requeues, 1);
  assert.equal(r.metrics.preemptions, 0);
  assert.equal(r.metrics.allBestEffortS, 7232);
  // With unsuspendable cancel it is cancelled instead, and the AR runs the same.
  const c = run('preemption', { suspension: 'none', unsuspendable: 'cancel' });
  assert.deepEqual(timeline(c.events).filter((l) => l.startsWith('1 ')), ['1 prepare 0-140 @0', '1 run 140-3740 @0', '1 cancel 900 @0']);
  assert.equal(c.metrics.cancelled, 1);
});

test('reservation.lwf: the wide best-effort lease waits for the long one (first come, first served) and starts when it has shut down', () => {
  const r = run('reservation');
  // BE 1 (1 node, 1 h): 0–140 prepare, 140–3740 run, 3740–3750 shutdown. BE 2 (4 nodes, 15 min) arrives at 900 and needs host 0:
  // it starts at 3750: prepare 3750–3890, run 3890–4790, shutdown 4790–4800.
  assert.deepEqual(timeline(r.events).slice(-4), ['2 prepare 3750-3890 @0,1,2,3', '2 run 3890-4790 @0,1,2,3', '2 shutdown 4790-4800 @0,1,2,3', '2 done 4800']);
  assert.equal(r.metrics.meanWaitS, (0 + (3750 - 900)) / 2);
});

test('reuse1.lwf: the second lease finds the image on the host and only boots (12 s)', () => {
  const r = run('reuse1');
  // AR 1 at 00:15 = 900: prepare 760–900 (transfer + boot), run 900–1800, shutdown 1800–1810.
  // BE 2 arrives at 2700, same image on host 0: prepare 2700–2712, run 2712–3612, shutdown 3612–3622.
  assert.deepEqual(timeline(r.events), [
    '1 prepare 760-900 @0',
    '1 run 900-1800 @0',
    '1 shutdown 1800-1810 @0',
    '1 done 1810',
    '2 prepare 2700-2712 @0',
    '2 run 2712-3612 @0',
    '2 shutdown 3612-3622 @0',
    '2 done 3622',
  ]);
  // Without image reuse the second lease transfers the image again.
  assert.ok(timeline(run('reuse1', {}, { reuseImages: false } as unknown as Record<string, number>).events).includes('2 prepare 2700-2840 @0'));
});

test('migrate.lwf: with migration the best-effort lease fills the gap before AR 2 and is moved to the hosts AR 1 frees; without, it waits for those hosts, since resuming in place would end later', () => {
  // A 1 s image transfer (1024 MiB/s), or AR 1 (start 00:01:30) could not be prepared in time: prepare = 1 + 12 = 13 s.
  // AR 1 (2 nodes, 90 s, 1 h): prepare 77–90 on hosts 0,1, run 90–3690, shutdown to 3700.
  // AR 2 (2 nodes, 1800 s, 1 h) overlaps AR 1, so hosts 2,3: prepare 1787–1800, run 1800–5400, shutdown to 5410.
  // BE 3 (2 nodes, 1 h) can only run before AR 2 on hosts 2,3: prepare 0–13, run 13–1755, suspend 1755–1787 (32 s). 3600 − 1742 = 1858 s left.
  const fast = { imageTransferMiBps: 1024 };
  const moved = timeline(run('migrate', { migration: 'yes' }, fast).events).filter((l) => l.startsWith('3 '));
  // Moved: hosts 0,1 are free at 3700: migrate 3700–4212 (512 s), resume 4212–4276, run 4276–6134, shutdown to 6144 — before 5410 + 64 + 1858 + 10 = 7342.
  assert.deepEqual(moved, ['3 prepare 0-13 @2,3', '3 run 13-1755 @2,3', '3 suspend 1755-1787 @2,3', '3 migrate 3700-4212 @0,1', '3 resume 4212-4276 @0,1', '3 run 4276-6134 @0,1', '3 shutdown 6134-6144 @0,1', '3 done 6144']);
  // Migration no, state local: run in the gap it could resume only in place, after AR 2 shuts down at 5410 (resume
  // 5410–5474, run 5474–7332, shutdown to 7342). Waiting for hosts 0,1 (free at 3700) ends sooner — prepare 3700–3713,
  // run 3713–7313, shutdown to 7323 — so it waits instead (the old planner took the gap and was done at 7342).
  const inPlace = timeline(run('migrate', { migration: 'no' }, fast).events).filter((l) => l.startsWith('3 '));
  assert.deepEqual(inPlace, ['3 prepare 3700-3713 @0,1', '3 run 3713-7313 @0,1', '3 shutdown 7313-7323 @0,1', '3 done 7323']);
});

test('shared-resume.lwf: with its state on shared storage the suspended lease resumes at once on a free node, with no move; with local storage it waits for its own node, or (migration yes) moves first', () => {
  // As preemption.lwf up to 3610: BE 1 prepares 0–140 and runs on node 0, is suspended 1628–1660 for AR 2 (4 nodes, run
  // 1800–3600, shutdown to 3610) and has 2112 s left. AR 3 (1 node, 1 h at 01:02:40 = 3760, arrives at 1000) takes node 0:
  // prepare (foobar3, not cached) 3620–3760, run 3760–7360, shutdown 7360–7370. At 3610 node 0 is free for 10 s only
  // (a resume in place needs 64 + 2112 + 10 s; a gap run at least 64 + 60 + 32 s), nodes 1–3 for good.
  const lease1 = (policies: Record<string, string>, rates: Record<string, string>): string[] =>
    timeline(run('shared-resume', policies, rates, OWN).events).filter((l) => l.startsWith('1 ')).slice(3);
  const ar3 = timeline(run('shared-resume', {}, {}, OWN).events).filter((l) => l.startsWith('3 '));
  assert.deepEqual(ar3, ['3 prepare 3620-3760 @0', '3 run 3760-7360 @0', '3 shutdown 7360-7370 @0', '3 done 7370']);
  // Shared: node 1 reads the state file; resume 3610–3674 (1024 MiB ÷ 16 MiB/s), run 3674–5786, shutdown to 5796 — as
  // preemption.lwf, on another node. Haizea's 2008 scheduler resumed a suspended lease so (any free nodes, no transfer).
  const shared = run('shared-resume', {}, { suspendTo: 'shared' }, OWN);
  assert.deepEqual(timeline(shared.events).filter((l) => l.startsWith('1 ')).slice(0, 3), ['1 prepare 0-140 @0', '1 run 140-3740 @0', '1 suspend 1628-1660 @0']);
  assert.deepEqual(lease1({}, { suspendTo: 'shared' }), ['1 resume 3610-3674 @1', '1 run 3674-5786 @1', '1 shutdown 5786-5796 @1', '1 done 5796']);
  assert.equal(shared.metrics.handoffs, 1);
  assert.equal(shared.metrics.migrations, 0);
  assert.equal(shared.metrics.allBestEffortS, 5796);
  // Shared storage needs no migration policy: with migration yes too, nothing is moved.
  assert.deepEqual(lease1({ migration: 'yes' }, { suspendTo: 'shared' }), lease1({}, { suspendTo: 'shared' }));
  // Local (the default), migration no: it waits for node 0 after AR 3: resume 7370–7434, run 7434–9546, shutdown to 9556.
  const local = run('shared-resume', {}, {}, OWN);
  assert.deepEqual(lease1({}, {}), ['1 resume 7370-7434 @0', '1 run 7434-9546 @0', '1 shutdown 9546-9556 @0', '1 done 9556']);
  assert.equal(local.metrics.handoffs, 0);
  assert.equal(local.metrics.allBestEffortS, 9556);
  // Local, migration yes: moved first (memory + disk 2048 MiB ÷ 4 MiB/s = 512 s): 3610–4122, resume to 4186, run to 6298, shutdown to 6308.
  const moved = run('shared-resume', { migration: 'yes' }, {}, OWN);
  assert.deepEqual(lease1({ migration: 'yes' }, {}), ['1 migrate 3610-4122 @1', '1 resume 4122-4186 @1', '1 run 4186-6298 @1', '1 shutdown 6298-6308 @1', '1 done 6308']);
  assert.equal(moved.metrics.migrations, 1);
  assert.equal(moved.metrics.handoffs, 0);
});

test('local state, migration no: a best-effort lease does not fill a gap after which it could resume on its hosts only long after it could have run in full elsewhere — it waits, as without suspension', () => {
  // Two nodes; no image (prepare = boot 12 s). AR a1 holds node 0 from 988 (prepared 988–1000, runs to 6000, shutdown to
  // 6010), AR a2 right after it (prepared 6010–6022, runs to 16022, shutdown to 16032); AR a0 holds node 1 from 8 to 7010.
  // BE l (1 VM, 2000 s) at 0 fits nowhere in full (12 + 2000 + 10 s); node 0 has a gap before a1. Run in it (prepare
  // 0–12, run 12–956, suspend 956–988) its memory would be on node 0, free again only at 16032: resume 16032–16096, the
  // 1056 s left to 17152, shutdown to 17162. Waiting, it starts in full on node 1 at 7010 and is done at 9032 — what the
  // run without suspension does. The old planner took the gap.
  const shape = { cpus: 1, memoryMiB: 1024 };
  const ar = (id: string, start: number, duration: number) => ({ id, kind: 'ar' as const, submit: 0, start, duration, vms: 1, shape, preemptible: false });
  const workload = {
    hosts: [{ cpus: 1, memoryMiB: 1024 }, { cpus: 1, memoryMiB: 1024 }],
    leases: [ar('a1', 1000, 5000), ar('a0', 20, 6980), ar('a2', 6022, 10_000), { id: 'l', kind: 'be' as const, submit: 0, duration: 2000, vms: 1, shape, preemptible: true }],
  };
  const sim = (policies: Record<string, string>) => simulate(workload, compileSimConfig({ rates: RATES, policies }), { record: true });
  const local = sim({});
  assert.deepEqual(local.rejections, []);
  assert.deepEqual(timeline(local.events).filter((l) => l.startsWith('a')).filter((l) => / run /.test(l)), ['a0 run 20-7000 @1', 'a1 run 1000-6000 @0', 'a2 run 6022-16022 @0']);
  assert.deepEqual(timeline(local.events).filter((l) => l.startsWith('l ')), ['l prepare 7010-7022 @1', 'l run 7022-9022 @1', 'l shutdown 9022-9032 @1', 'l done 9032']);
  assert.equal(local.metrics.preemptions, 0);
  assert.equal(local.metrics.allBestEffortS, sim({ suspension: 'none' }).metrics.allBestEffortS);
  assert.equal(local.metrics.allBestEffortS, 9032);
  // With its state on shared storage (or moved, migration yes) the gap costs nothing: it runs there and resumes on node 1.
  const shared = simulate(workload, compileSimConfig({ rates: { ...RATES, suspendTo: 'shared' }, policies: {} }), { record: true });
  assert.deepEqual(timeline(shared.events).filter((l) => l.startsWith('l ')).slice(0, 3), ['l prepare 0-12 @0', 'l run 12-956 @0', 'l suspend 956-988 @0']);
  assert.ok(shared.metrics.allBestEffortS! < 9032);
});

test('preemption.lwf with shared storage: the only free node after the AR is its own, so the timeline is the local one', () => {
  assert.deepEqual(timeline(run('preemption', {}, { suspendTo: 'shared' }).events), timeline(run('preemption').events));
});

test('migrate.lwf with the default (slow) transfer: AR 1 cannot be prepared before 00:01:30 and is rejected with the reason', () => {
  const r = run('migrate');
  assert.equal(r.rejections[0]?.lease, '1');
  assert.match(r.rejections[0].reason, /starts too soon: its preparation \(140\.0 s\) would have to begin 50\.0 s ago/);
});

test('wait.lwf: eight 4-node leases run one after the other, each starting when the previous has shut down', () => {
  const r = run('wait');
  // Each: prepare 140 (a new image each time), run 900, shutdown 10 → 1050 s apart.
  const starts = r.events.filter((e) => e.step === 'prepare').map((e) => e.t);
  assert.deepEqual(starts, [0, 1050, 2100, 3150, 4200, 5250, 6300, 7350]);
  assert.equal(r.metrics.allBestEffortS, 8 * 1050);
});

test('a simulation without hosts is refused', () => {
  assert.throws(() => simulate({ leases: [] }, compileSimConfig({})), /no hosts/);
});

test('preemption.lwf with an age limit: BE 1 has run 760 s when the AR arrives at 900 — under a 1000 s limit it is suspended as usual, over a 700 s one it is spared and the AR refused', () => {
  const under = run('preemption', { preemptability: 'ar-preempts-be-age-limit', preemptionAgeLimitS: '1000' });
  assert.deepEqual(timeline(under.events), timeline(run('preemption').events));
  assert.equal(under.metrics.preemptions, 1);
  const over = run('preemption', { preemptability: 'ar-preempts-be-age-limit', preemptionAgeLimitS: '700' });
  assert.deepEqual(over.rejections.map((x) => x.lease), ['2']);
  assert.match(over.rejections[0]!.reason, /even after preempting what the policies allow/);
  assert.deepEqual(timeline(over.events), ['1 prepare 0-140 @0', '1 run 140-3740 @0', '2 rejected 900', '1 shutdown 3740-3750 @0', '1 done 3750']);
});

test('quota-aware admission in the simulator: quotas from the config, owners from the trace; a lease past its owner\'s quota is rejected naming it, and fits again once the owner\'s earlier lease is done', () => {
  const shape = { cpus: 1, memoryMiB: 1024 };
  const lease = (id: string, submit: number, owner: string) => ({ id, kind: 'be' as const, submit, duration: 100, vms: 2, shape, preemptible: true, owner });
  const workload = { hosts: [{ cpus: 8, memoryMiB: 8192 }], leases: [lease('a1', 0, 'ana'), lease('a2', 10, 'ana'), lease('b1', 10, 'bob'), lease('a3', 500, 'ana')] };
  const config = compileSimConfig({ rates: { bootS: 0, shutdownS: 0 }, policies: { admission: 'quota-aware' }, quotas: { ana: { vms: 3 }, '*': { leases: 5 } } });
  const r = simulate(workload, config, { record: true });
  assert.deepEqual(r.rejections, [{ lease: 'a2', reason: 'quota exceeded: ana may have 3 vms; 2 in use, 2 more requested (admission policy quota-aware)' }]);
  assert.deepEqual(timeline(r.events).filter((l) => / (run|rejected) /.test(l)), ['a1 run 0-100 @0', 'a2 rejected 10', 'b1 run 10-110 @0', 'a3 run 500-600 @0']);
  assert.throws(() => compileSimConfig({ quotas: { ana: { vms: -1, warp: 2 } } }), (e: unknown) => e instanceof Error && /quotas\.ana\.vms/.test(e.message) && /quotas\.ana\.warp/.test(e.message));
});
