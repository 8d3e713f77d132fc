/**
 * Debian guest boot benchmark: from the create request (through the controller,
 * placement, prolog and QEMU on a one-host lab) to real cloud-init's "finished"
 * line on the console, with the guest's own uptime at that point. One 512 MiB
 * VM per round. Prints a table and writes JSON to bench/results/. Not a test.
 * Uses the lab: run under `flock /tmp/nubo-lab.lock`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { bootDebianVm, startDebianLabCloud } from '../test/support/debian-lab-cloud.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 1);
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
for (const s of samples) console.log(`| ${s.vm} | ${(s.requestToFinishedMs / 1000).toFixed(1)} s | ${s.guestUpSeconds.toFixed(1)} s |`);
await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `debian-boot-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ rounds, samples }, null, 2));
console.log(`wrote ${out}`);
