/**
 * Debian guest boot benchmark: from the create request (through the controller,
 * placement, prolog and QEMU on a one-host lab) to real cloud-init's "finished"
 * line on the console, with the guest's own uptime at that point. One 512 MiB
 * VM per round (--rounds, default 1); with more than one, the median and its
 * bootstrap CI (bench/support). There is no raw counterpart in this lab (the
 * raw-vs-nubo comparison is bench/provision.ts on nubo-tiny), so no verdict.
 * Prints a table and writes JSON to bench/results/. Not a test.
 * Uses the lab: run under `flock /tmp/nubo-lab.lock`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { bootDebianVm, startDebianLabCloud } from '../test/support/debian-lab-cloud.js';
import { benchFlag } from './support/bench-flag.js';
import { bootstrapCi } from './support/bootstrap-ci.js';
import { formatDistinct } from './support/format-distinct.js';

const rounds = benchFlag('rounds', 'BENCH_ROUNDS', 1);
const cloud = await startDebianLabCloud({ prefix: `bd${randomBytes(3).toString('hex')}`, logger: pino({ level: 'silent' }), onBuildStep: (s) => console.error(`image build: ${s}`) });
const samples: { vm: string; requestToFinishedMs: number; guestUpSeconds: number }[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    const name = `bench-deb-${r}`;
    const b = await bootDebianVm(cloud, name, '#cloud-config\n');
    samples.push({ vm: name, requestToFinishedMs: b.requestToFinishedMs, guestUpSeconds: b.guestUpSeconds });
    await cloud.api.vmAction(b.vm.id, 'terminate-hard');
  }
} finally {
  await cloud.stop();
}

console.log(`\nDebian 12 guest (real cloud-init) — TCG, 512 MiB, 1 vCPU, ${rounds} round(s), ${new Date().toISOString()}`);
console.log('| VM | request → cloud-init finished | guest uptime at finished |');
console.log('|---|---|---|');
for (const s of samples) {
  const [req, up] = formatDistinct([s.requestToFinishedMs / 1000, s.guestUpSeconds], 1);
  console.log(`| ${s.vm} | ${req} s | ${up} s |`);
}
const ci = bootstrapCi(samples.map((s) => s.requestToFinishedMs / 1000));
const guest = bootstrapCi(samples.map((s) => s.guestUpSeconds));
const [m, lo, hi] = formatDistinct([ci.point, ci.lo, ci.hi], 1);
const [gm, glo, ghi] = formatDistinct([guest.point, guest.lo, guest.hi], 1);
console.log(`median request → finished ${m} s (95% CI ${lo}…${hi}); guest uptime ${gm} s (95% CI ${glo}…${ghi}); ${ci.n} round(s)`);
await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `debian-boot-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ rounds, samples, requestToFinishedS: ci, guestUpS: guest }, null, 2));
console.log(`wrote ${out}`);
