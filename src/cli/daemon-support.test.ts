import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = await mkdtemp(join(tmpdir(), 'nubo-daemon-log-'));
after(() => rm(dir, { recursive: true, force: true }));

/** A process that logs one line through daemonLogger and SIGKILLs itself at once, as a failpoint's `exit` does; its stdout. */
function logThenDie(file?: string): Promise<string> {
  const mod = new URL('./daemon-support.js', import.meta.url).href;
  const script = `const { daemonLogger } = await import(${JSON.stringify(mod)}); daemonLogger(${file === undefined ? '' : JSON.stringify(file)}).info('the last words'); process.kill(process.pid, 'SIGKILL');`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (_code, signal) => (signal === 'SIGKILL' ? resolve(out) : reject(new Error(`ended by ${String(signal)}, not SIGKILL`))));
  });
}

test('a daemon killed right after logging a line keeps it, on stdout and in a log file (the crash tests read these lines)', async () => {
  for (let i = 0; i < 10; i++) {
    assert.match(await logThenDie(), /"msg":"the last words"/, `stdout, kill ${i}`);
    const file = join(dir, `d${i}.log`);
    await logThenDie(file);
    assert.match(await readFile(file, 'utf8'), /"msg":"the last words"/, `file, kill ${i}`);
  }
});
