#!/usr/bin/env node
// Runs the compiled test files with node's own test runner. Node 20 has no glob
// support in `node --test`, so the files are listed here. QEMU-backed suites are
// CPU-heavy under TCG on 2 cores, hence one file at a time.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const unitOnly = process.argv.includes('--unit');
// bench/support holds the pure statistics the benchmarks' verdicts rest on: unit tests too.
const roots = unitOnly ? ['dist/src', 'dist/bench'] : ['dist/src', 'dist/bench', 'dist/test'];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const r of roots) {
  try { walk(r); } catch { /* a root without tests */ }
}
files.sort();
const res = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
