import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { deadline } from '../../src/util/deadline.js';

/** A `nubo controller` in a process of its own, so that its CPU time and memory are measured apart from the fleet's. */
export interface ControllerProcess {
  readonly url: string;
  readonly adminToken: string;
  readonly pid: number;
  /** CPU time (user + system) the process used so far, in ms. */
  cpuMs(): Promise<number>;
  /** Resident memory now and at its peak, in MiB. */
  rssMiB(): Promise<{ now: number; peak: number }>;
  /** SIGTERM to its pid, SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** Settles when the process has exited, with the signal that ended it (null: it exited by itself). */
  readonly exited: Promise<NodeJS.Signals | null>;
}

export interface ControllerProcessOptions {
  readonly cli: string;
  readonly dataDir: string;
  readonly home: string;
  readonly heartbeatMs: number;
  readonly postgres?: string | undefined;
  readonly timeoutMs?: number | undefined;
  /** The port to listen on (a restart on the same data directory keeps its URL: agents know only that one); default a free one. */
  readonly port?: number | undefined;
  /** Extra environment (e.g. NUBO_FAILPOINTS). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** A restart: the first admin exists, its token is not printed again — this is it. */
  readonly adminToken?: string | undefined;
  /** More flags for `nubo controller`. */
  readonly args?: readonly string[] | undefined;
}

/** A loopback port free now (for a controller that must keep its URL across restarts). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

export async function startControllerProcess(o: ControllerProcessOptions): Promise<ControllerProcess> {
  const port = o.port ?? await freePort();
  const args = [o.cli, 'controller', '--listen', `127.0.0.1:${port}`, '--data-dir', o.dataDir, '--heartbeat-ms', String(o.heartbeatMs), ...(o.postgres ? ['--postgres', o.postgres] : []), ...(o.args ?? [])];
  // NUBO_CONTROLLER_NODE_ARGS: node flags for the controller only (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it; written when it stops).
  const nodeArgs = (process.env['NUBO_CONTROLLER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...args], { env: { ...process.env, ...o.env, NUBO_HOME: o.home }, stdio: ['ignore', 'ignore', 'pipe'] });
  const pid = child.pid!;
  const exited = new Promise<NodeJS.Signals | null>((ok) => child.once('exit', (_code, signal) => ok(signal)));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const d = deadline('controller start', o.timeoutMs ?? 60_000);
  try {
    const adminToken = await new Promise<string>((ok, fail) => {
      let err = '';
      child.stderr!.setEncoding('utf8');
      if (o.adminToken !== undefined) ok(o.adminToken);
      child.stderr!.on('data', (chunk: string) => {
        // Kept short: the process may print for a long time (a test's whole run).
        err = (err + chunk).slice(-20_000);
        const m = /its token \(shown once\): (\S+)/.exec(err);
        if (m) ok(m[1]!);
      });
      child.once('exit', (code) => fail(new Error(`controller exited (${code}) before it was ready: ${err.slice(-2000)}`)));
      d.signal.addEventListener('abort', () => fail(d.signal.reason as Error), { once: true });
    });
    const url = `http://127.0.0.1:${port}`;
    // The token is printed before the listener may be up: wait for an answer.
    for (;;) {
      d.signal.throwIfAborted();
      const ok = await fetch(`${url}/api/v1/openapi.json`, { signal: d.signal }).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const stat = async (): Promise<string> => readFile(`/proc/${pid}/stat`, 'utf8');
    const status = async (): Promise<string> => readFile(`/proc/${pid}/status`, 'utf8');
    return {
      url, adminToken, pid, stop, exited,
      async cpuMs() {
        // Fields after the command name: utime and stime are the 12th and 13th (clock ticks, 100 a second on Linux).
        const text = await stat();
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) * 10;
      },
      async rssMiB() {
        const s = await status();
        const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
        return { now: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
      },
    };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    d.dispose();
  }
}
