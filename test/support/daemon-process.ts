import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pollUntil } from '../../src/util/deadline.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'nubo.js');

/** A nubo daemon in a child process of the test, ended by its own pid only. */
export class DaemonProcess {
  readonly output: string[] = [];
  /** Settles once the daemon's stdout and stderr are closed: everything it printed is in `output`. */
  readonly #closed: Promise<void>;
  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => this.output.push(b.toString()));
    child.stderr?.on('data', (b: Buffer) => this.output.push(b.toString()));
    this.#closed = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /**
   * After the daemon died: waits until what it printed before has been read into `output` ('exit' may come before
   * the last of its output is read). At most `timeoutMs`: a child of the daemon that outlives it (an fd sender) may
   * hold the pipes open, and then what was in them has been read well within that.
   */
  async outputRead(timeoutMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  static start(args: readonly string[], env: NodeJS.ProcessEnv = {}): DaemonProcess {
    const child = spawn(process.execPath, ['--enable-source-maps', CLI, ...args], {
      env: { ...process.env, NUBO_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new DaemonProcess(child);
  }

  /** Where the output ends now: a later waitFor(…, from) looks only at what is printed after. */
  mark(): number {
    return this.output.join('').length;
  }

  /**
   * Waits until the daemon has printed a match of `pattern` (at or after `from`); returns the first capture group (or
   * the match). A daemon that ended without printing it — by a signal too — fails the wait at once rather than at the
   * timeout. An old line of a killed daemon must not pass for a new one: pass `from` (see mark) when it could.
   */
  async waitFor(pattern: RegExp, timeoutMs = 30_000, from = 0): Promise<string> {
    return pollUntil(`daemon output ${String(pattern)}`, () => {
      const all = this.output.join('');
      const m = pattern.exec(all.slice(from));
      if (m) return m[1] ?? m[0];
      if (!this.alive) throw new Error(`daemon exited (${this.child.exitCode ?? this.child.signalCode}):\n${all.slice(-2000)}`);
      return undefined;
    }, { timeoutMs, intervalMs: 25 });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, as a crash would: no clean-up runs. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM and wait: the daemon's own orderly stop. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** Pids of live QEMU processes running the VM named `guest=<id>` (a read-only scan of /proc). */
export async function qemuPidsOf(agentVmId: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(`guest=${agentVmId},debug-threads=on`) && !/^\d+ \(.*\) [ZX] /.test(stat)) out.push(Number(name));
  }
  return out;
}
