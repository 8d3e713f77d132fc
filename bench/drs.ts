/**
 * The rebalancer's plan quality (issue 16 item 4), no QEMU needed:
 *  1. a synthetic 100-host cluster (skewed: a third of the hosts carry most
 *     of the load): imbalance before/after, moves, plan time (median of runs);
 *  2. small cases (4–8 hosts, 10–30 VMs) against the optimum of an ILP solved
 *     by HiGHS (the `highs` package, wasm): the same move limit (maxMoves)
 *     and the same capacity (vCPU limit, memory) as nubo's planner; the ILP
 *     minimises the mean absolute deviation of the hosts' CPU and memory
 *     shares from the cluster's (a linear stand-in for nubo's σ, which is
 *     quadratic — HiGHS has no mixed-integer QP). Both plans are scored with
 *     the same L1 objective and with σ; gap % = (nubo − optimum) / optimum.
 * Flags: --runs (BENCH_DRS_RUNS, default 5) plan-time repetitions, --cases
 * (BENCH_DRS_CASES, default 8) small cases. Prints tables, writes JSON to bench/results/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as highsNs from 'highs';
import { planDrs } from '../src/core/drs/plan-drs.js';
import { compileDrsPolicy, type DrsPolicy } from '../src/core/drs/drs-policy.js';
import type { DrsCluster, DrsHost, DrsVm } from '../src/core/drs/drs-cluster.js';
import { benchFlag } from './support/bench-flag.js';
import { median } from './support/quantile.js';
import { seededRandom } from './support/seeded-random.js';
import { textTable } from './support/text-table.js';

const NOW = Date.parse('2026-12-05T00:00:00Z');

/** Hosts of 8 CPUs / 16 GiB (overcommit 4); VMs of 1–4 vCPUs, 512–4096 MiB, busy 5–90 %; the first third of the hosts get ~70 % of the VMs. */
function synthetic(seed: number, nHosts: number, nVms: number): DrsCluster {
  const r = seededRandom(seed);
  const hosts: DrsHost[] = Array.from({ length: nHosts }, (_, i) => ({ id: `h${String(i).padStart(3, '0')}`, name: `h${i}`, cpus: 8, memoryMiB: 16_384, vcpuLimit: 32 }));
  const vms: DrsVm[] = [];
  const used = new Map(hosts.map((h) => [h.id, { vcpus: 0, mem: 0 }]));
  for (let k = 0; k < nVms; k++) {
    const vcpus = 1 + Math.floor(r() * 4);
    const memoryMiB = 512 * (1 + Math.floor(r() * 8));
    for (let tries = 0; tries < 50; tries++) {
      const hot = r() < 0.7;
      const span = hot ? Math.max(1, Math.floor(nHosts / 3)) : nHosts;
      const h = hosts[Math.floor(r() * span)]!;
      const u = used.get(h.id)!;
      if (u.vcpus + vcpus > h.vcpuLimit || u.mem + memoryMiB > h.memoryMiB) continue;
      u.vcpus += vcpus;
      u.mem += memoryMiB;
      vms.push({ id: `v${String(k).padStart(4, '0')}`, name: `v${k}`, hostId: h.id, vcpus, memoryMiB, cpuUse: vcpus * (0.05 + r() * 0.85), memoryUseMiB: memoryMiB * (0.3 + r() * 0.6) });
      break;
    }
  }
  return { hosts, vms, now: NOW };
}

/** The L1 objective (mean over hosts of (|c − C| + |m − M|) / 2) and σ (nubo's imbalance) of an assignment. */
function score(c: DrsCluster, at: ReadonlyMap<string, string>): { l1: number; sigma: number } {
  const cpu = new Map(c.hosts.map((h) => [h.id, 0]));
  const mem = new Map(c.hosts.map((h) => [h.id, 0]));
  for (const v of c.vms) {
    const h = at.get(v.id) ?? v.hostId;
    cpu.set(h, cpu.get(h)! + v.cpuUse);
    mem.set(h, mem.get(h)! + v.memoryUseMiB);
  }
  const C = c.vms.reduce((a, v) => a + v.cpuUse, 0) / c.hosts.reduce((a, h) => a + h.cpus, 0);
  const M = c.vms.reduce((a, v) => a + v.memoryUseMiB, 0) / c.hosts.reduce((a, h) => a + h.memoryMiB, 0);
  let l1 = 0, sq = 0;
  for (const h of c.hosts) {
    const dc = cpu.get(h.id)! / h.cpus - C, dm = mem.get(h.id)! / h.memoryMiB - M;
    l1 += (Math.abs(dc) + Math.abs(dm)) / 2;
    sq += (dc * dc + dm * dm) / 2;
  }
  return { l1: l1 / c.hosts.length, sigma: Math.sqrt(sq / c.hosts.length) };
}

const num = (x: number): string => x.toFixed(9);

/** The ILP in CPLEX LP format: x_v_h binary (VM v on host h), at most `maxMoves` VMs off their host, capacity kept, L1 deviation minimised. */
function ilp(c: DrsCluster, maxMoves: number): string {
  const n = c.hosts.length;
  const C = c.vms.reduce((a, v) => a + v.cpuUse, 0) / c.hosts.reduce((a, h) => a + h.cpus, 0);
  const M = c.vms.reduce((a, v) => a + v.memoryUseMiB, 0) / c.hosts.reduce((a, h) => a + h.memoryMiB, 0);
  const x = (v: number, h: number): string => `x_${v}_${h}`;
  const w = 1 / (2 * n);
  const lines = ['Minimize', ` obj: ${c.hosts.map((_, h) => `${num(w)} cp_${h} + ${num(w)} cm_${h} + ${num(w)} mp_${h} + ${num(w)} mm_${h}`).join(' + ')}`, 'Subject To'];
  c.vms.forEach((_, v) => lines.push(` one_${v}: ${c.hosts.map((__, h) => x(v, h)).join(' + ')} = 1`));
  lines.push(` moves: ${c.vms.map((vm, v) => x(v, c.hosts.findIndex((h) => h.id === vm.hostId))).join(' + ')} >= ${c.vms.length - maxMoves}`);
  c.hosts.forEach((h, hi) => {
    lines.push(` vcpu_${hi}: ${c.vms.map((vm, v) => `${vm.vcpus} ${x(v, hi)}`).join(' + ')} <= ${h.vcpuLimit}`);
    lines.push(` mem_${hi}: ${c.vms.map((vm, v) => `${vm.memoryMiB} ${x(v, hi)}`).join(' + ')} <= ${h.memoryMiB}`);
    lines.push(` dc_${hi}: ${c.vms.map((vm, v) => `${num(vm.cpuUse / h.cpus)} ${x(v, hi)}`).join(' + ')} - cp_${hi} + cm_${hi} = ${num(C)}`);
    lines.push(` dm_${hi}: ${c.vms.map((vm, v) => `${num(vm.memoryUseMiB / h.memoryMiB)} ${x(v, hi)}`).join(' + ')} - mp_${hi} + mm_${hi} = ${num(M)}`);
  });
  lines.push('Binary', ...c.vms.flatMap((_, v) => c.hosts.map((__, h) => ` ${x(v, h)}`)), 'End');
  return lines.join('\n');
}

function nuboAssignment(c: DrsCluster, policy: DrsPolicy): { at: Map<string, string>; moves: number; ms: number } {
  const t0 = performance.now();
  const plan = planDrs(c, policy);
  const ms = performance.now() - t0;
  return { at: new Map(plan.moves.map((m) => [m.vmId, m.toHostId])), moves: plan.moves.length, ms };
}

async function main(): Promise<void> {
  const runs = benchFlag('runs', 'BENCH_DRS_RUNS', 5);
  const nCases = benchFlag('cases', 'BENCH_DRS_CASES', 8);
  // The package's types describe its CommonJS build; Node loads its ES module, whose default export is the loader.
  const highs = await (highsNs as unknown as { default: () => Promise<{ solve(p: string, o?: Record<string, number>): { Status: string; ObjectiveValue: number; Columns: Record<string, { Primal?: number } | undefined> } }> }).default();

  // 1. 100 hosts, ~70 % of the memory allocated: with 1,000 VMs asked for (728 placed) every host's memory was
  // allocated, so almost no move fitted anywhere and the row measured the packing, not the planner.
  const big = synthetic(1, 100, 500);
  const bigPolicy = compileDrsPolicy({ threshold: 0.02, hysteresis: 0, maxMoves: 50, minMinutesBetweenMoves: 0 });
  const times: number[] = [];
  let last = nuboAssignment(big, bigPolicy);
  for (let k = 0; k < runs; k++) {
    last = nuboAssignment(big, bigPolicy);
    times.push(last.ms);
  }
  const before = score(big, new Map()), after = score(big, last.at);
  const bigRow = { hosts: big.hosts.length, vms: big.vms.length, maxMoves: bigPolicy.maxMoves, moves: last.moves, sigmaBefore: before.sigma, sigmaAfter: after.sigma, l1Before: before.l1, l1After: after.l1, planMsMedian: median(times) };
  process.stdout.write(`\nDRS plan on a synthetic cluster (balance, threshold 0.02, maxMoves ${bigPolicy.maxMoves}; plan time median of ${runs})\n${textTable(
    ['hosts', 'VMs', 'moves', 'σ before', 'σ after', 'L1 before', 'L1 after', 'plan ms'],
    [[String(bigRow.hosts), String(bigRow.vms), String(bigRow.moves), before.sigma.toFixed(4), after.sigma.toFixed(4), before.l1.toFixed(4), after.l1.toFixed(4), bigRow.planMsMedian.toFixed(1)]],
  )}\n`);

  // 2. Small cases vs the ILP optimum under the same move limit.
  const cases = [];
  for (let k = 0; k < nCases; k++) {
    const nHosts = 4 + (k % 5);
    const nVms = 10 + ((k * 7) % 21);
    const c = synthetic(100 + k, nHosts, nVms);
    const maxMoves = 2 + (k % 4);
    const policy = compileDrsPolicy({ threshold: 0, hysteresis: 0, maxMoves, minMinutesBetweenMoves: 0 });
    const nubo = nuboAssignment(c, policy);
    const t0 = performance.now();
    const sol = highs.solve(ilp(c, maxMoves), { time_limit: 60, mip_rel_gap: 0 });
    const ilpMs = performance.now() - t0;
    if (sol.Status !== 'Optimal') throw new Error(`case ${k}: HiGHS says ${sol.Status}`);
    const at = new Map<string, string>();
    c.vms.forEach((vm, v) => c.hosts.forEach((h, hi) => {
      if ((sol.Columns[`x_${v}_${hi}`]?.Primal ?? 0) > 0.5) at.set(vm.id, h.id);
    }));
    const opt = score(c, at), got = score(c, nubo.at), start = score(c, new Map());
    const ilpMoves = c.vms.filter((vm) => at.get(vm.id) !== vm.hostId).length;
    cases.push({
      case: k + 1, hosts: nHosts, vms: c.vms.length, maxMoves, l1Before: start.l1, l1Optimum: opt.l1, l1Nubo: got.l1,
      gapPercent: opt.l1 > 1e-9 ? ((got.l1 - opt.l1) / opt.l1) * 100 : got.l1 > 1e-9 ? Infinity : 0,
      sigmaOptimum: opt.sigma, sigmaNubo: got.sigma, movesOptimum: ilpMoves, movesNubo: nubo.moves, ilpMs, nuboMs: nubo.ms,
      ilpObjective: sol.ObjectiveValue,
    });
  }
  process.stdout.write(`\nnubo's greedy plan vs the ILP optimum (HiGHS), same maxMoves and capacity; objective L1 = mean |share − cluster share|\n${textTable(
    ['case', 'hosts', 'VMs', 'maxMoves', 'L1 before', 'L1 optimum', 'L1 nubo', 'gap %', 'σ optimum', 'σ nubo', 'moves opt', 'moves nubo', 'ILP ms', 'nubo ms'],
    cases.map((x) => [String(x.case), String(x.hosts), String(x.vms), String(x.maxMoves), x.l1Before.toFixed(4), x.l1Optimum.toFixed(4), x.l1Nubo.toFixed(4), x.gapPercent.toFixed(1), x.sigmaOptimum.toFixed(4), x.sigmaNubo.toFixed(4), String(x.movesOptimum), String(x.movesNubo), x.ilpMs.toFixed(0), x.nuboMs.toFixed(2)]),
  )}\nmedian gap ${median(cases.map((x) => x.gapPercent)).toFixed(1)} %, worst ${Math.max(...cases.map((x) => x.gapPercent)).toFixed(1)} %\n`);
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `drs-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({ bench: 'drs', runs, big: bigRow, cases }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
