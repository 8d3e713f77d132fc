import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CommandError } from '../errors/command-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { FakeFleetOptions } from './fake-fleet.js';
import type { FleetBeatStats, FleetChildCall, FleetChildReport, FleetChildStart, FleetHostAddress } from './fake-fleet-messages.js';

export type { FleetBeatStats, FleetHostAddress };

/** Hosts per process by default: a saturated event loop stalls every agent and heartbeat in it, so a process holds a share only. */
export const HOSTS_PER_PROCESS = 250;

export interface FakeFleetProcessesOptions extends Omit<FakeFleetOptions, 'logger' | 'realDisks' | 'firstIndex'> {
  /** How many processes the hosts are split over (default one per HOSTS_PER_PROCESS hosts, at least one). */
  readonly processes?: number | undefined;
  /** Each process's log level, its log on its stderr (default `silent`). */
  readonly logLevel?: string | undefined;
  /** How long the processes may take to be up, every agent listening (default 120 s). */
  readonly startTimeoutMs?: number | undefined;
}

/** Beat stats of the whole fleet (counts summed, times the longest) and of each process. */
export interface FleetProcessesStats extends FleetBeatStats {
  readonly processes: readonly (FleetBeatStats & { readonly pid: number; readonly hosts: number })[];
}

/** A call as its sender writes it: the id and type are added when it is sent. */
type Call = DistributiveOmit<FleetChildCall, 'type' | 'id'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One forked fleet process: its calls and their answers, its stderr's tail, its end. */
class FleetChild {
  readonly #proc: ChildProcess;
  readonly #waiting = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  #next = 0;
  #stderr = '';
  readonly exited: Promise<void>;
  hosts: readonly FleetHostAddress[] = [];

  constructor(readonly index: number) {
    // Its own node with no inherited flags (a test runner's), an IPC channel, stderr kept for when it fails.
    this.#proc = fork(join(import.meta.dirname, 'fake-fleet-child.js'), [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.#proc.stderr?.setEncoding('utf8');
    this.#proc.stderr?.on('data', (c: string) => {
      this.#stderr = (this.#stderr + c).slice(-8_000);
    });
    this.exited = new Promise((ok) => this.#proc.once('exit', () => ok()));
    // A send to a process that has just died fails here (EPIPE); its end is reported by `exited`.
    this.#proc.on('error', (err) => {
      this.#stderr = `${this.#stderr}\n${err.message}`.slice(-8_000);
    });
    this.#proc.on('message', (m: FleetChildReport) => {
      if (m.type !== 'answer') return;
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      if (m.ok) w?.ok(m.value);
      else w?.fail(new CommandError(this.#name, null, m.message));
    });
    void this.exited.then(() => {
      for (const w of this.#waiting.values()) w.fail(this.#died());
      this.#waiting.clear();
    });
  }

  get pid(): number {
    return this.#proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  get #name(): string {
    return `fake fleet process ${this.index} (pid ${this.pid})`;
  }

  #died(): CommandError {
    return new CommandError(this.#name, this.#proc.exitCode, this.#stderr || `ended by ${this.#proc.signalCode ?? 'itself'}`);
  }

  /** Starts its share; settles once it reports its agents listening (or fails, or exits). */
  start(m: FleetChildStart, signal: AbortSignal): Promise<void> {
    return new Promise<void>((ok, fail) => {
      const onMessage = (r: FleetChildReport): void => {
        if (r.type === 'ready') {
          this.hosts = r.hosts;
          settle(() => ok());
        } else if (r.type === 'failed') settle(() => fail(new CommandError(this.#name, null, `${this.#stderr}\n${r.message}`)));
      };
      const onAbort = (): void => settle(() => fail(signal.reason as Error));
      const settle = (f: () => void): void => {
        this.#proc.off('message', onMessage);
        signal.removeEventListener('abort', onAbort);
        f();
      };
      this.#proc.on('message', onMessage);
      signal.addEventListener('abort', onAbort, { once: true });
      void this.exited.then(() => settle(() => fail(this.#died())));
      this.#proc.send(m);
    });
  }

  call<T>(c: Call, timeoutMs: number): Promise<T> {
    if (!this.alive) return Promise.reject(this.#died());
    const id = this.#next++;
    return new Promise<T>((ok, fail) => {
      const t = setTimeout(() => {
        this.#waiting.delete(id);
        fail(new TimeoutError(`${this.#name}: ${c.op}`, timeoutMs));
      }, timeoutMs);
      this.#waiting.set(id, {
        ok: (v) => {
          clearTimeout(t);
          ok(v as T);
        },
        fail: (e) => {
          clearTimeout(t);
          fail(e);
        },
      });
      const message: FleetChildCall = { type: 'call', id, ...c };
      this.#proc.send(message);
    });
  }

  /** SIGKILL to its pid (a process that already ended is left alone). */
  kill(): void {
    if (this.alive) this.#proc.kill('SIGKILL');
  }
}

/**
 * A fake fleet (fake-fleet.ts: many agents in one process) split over child
 * processes, for benchmarks at a thousand hosts: the process that drives the
 * API clients is not the one that must answer the controller's calls and
 * beat on time, and each share of the agents has an event loop of its own —
 * as a real cloud's agents are separate machines. Each process reports its
 * agents' addresses when they all listen, and its heartbeat stats on demand.
 * Every process ends with close(), with this process (killed by pid on its
 * exit), or by itself when this process is killed (its IPC channel closes).
 */
export class FakeFleetProcesses {
  readonly #children: FleetChild[];
  readonly #onExit: () => void;

  private constructor(children: FleetChild[]) {
    this.#children = children;
    // Synchronous, as an exit handler must be: by pid, each process this fleet started.
    this.#onExit = () => {
      for (const c of this.#children) c.kill();
    };
    process.on('exit', this.#onExit);
  }

  static async start(o: FakeFleetProcessesOptions): Promise<FakeFleetProcesses> {
    const n = o.processes ?? Math.max(1, Math.ceil(o.hosts / HOSTS_PER_PROCESS));
    if (!Number.isInteger(n) || n < 1 || n > o.hosts) throw new ValidationError('fleet options', [{ field: 'processes', message: `must be a whole number from 1 to the number of hosts, ${o.hosts} (got ${n})` }]);
    const { processes: _p, logLevel, startTimeoutMs, ...fleet } = o;
    const children = Array.from({ length: n }, (_, i) => new FleetChild(i));
    const self = new FakeFleetProcesses(children);
    const signal = AbortSignal.timeout(startTimeoutMs ?? 120_000);
    try {
      let first = 1;
      await Promise.all(children.map((c, i) => {
        // Hosts split as evenly as they go, numbered on across the processes: f1…fN as one fleet would name them.
        const hosts = Math.floor(o.hosts / n) + (i < o.hosts % n ? 1 : 0);
        const start: FleetChildStart = { type: 'start', options: { ...fleet, hosts, firstIndex: first, rootDir: join(o.rootDir, `p${i}`) }, logLevel };
        first += hosts;
        return c.start(start, signal);
      }));
    } catch (err) {
      await self.close();
      throw err;
    }
    return self;
  }

  /** Every host, in name order (f1…fN). */
  get hosts(): readonly FleetHostAddress[] {
    return this.#children.flatMap((c) => c.hosts);
  }

  /** The processes' pids (to check that none is left). */
  get pids(): readonly number[] {
    return this.#children.map((c) => c.pid);
  }

  /** Every host beats once, at most `concurrency` at a time in each process; answers how many beats the controller took. */
  async beatAll(o: { concurrency?: number } = {}): Promise<number> {
    const taken = await Promise.all(this.#children.map((c) => c.call<number>({ op: 'beatAll', concurrency: o.concurrency ?? 16 }, 600_000)));
    return taken.reduce((a, b) => a + b, 0);
  }

  async startBeating(): Promise<void> {
    await Promise.all(this.#children.map((c) => c.call({ op: 'startBeating' }, 30_000)));
  }

  async stopBeating(): Promise<void> {
    await Promise.all(this.#children.map((c) => c.call({ op: 'stopBeating' }, 30_000)));
  }

  /** A silent host sends no heartbeats (a host that died, for the controller). */
  async setSilent(host: string, silent: boolean): Promise<void> {
    const c = this.#children.find((x) => x.hosts.some((h) => h.name === host));
    if (c === undefined) throw new ValidationError('fleet', [{ field: 'host', message: `the fleet has no host ${host}` }]);
    await c.call({ op: 'silent', host, silent }, 30_000);
  }

  /** The heartbeats so far: sent and taken (summed), the longest gap, sampling and send (of any process), and each process's. */
  async stats(): Promise<FleetProcessesStats> {
    const each = await Promise.all(this.#children.map(async (c) => ({ pid: c.pid, hosts: c.hosts.length, ...(await c.call<FleetBeatStats>({ op: 'stats' }, 30_000)) })));
    return {
      sent: each.reduce((a, s) => a + s.sent, 0),
      taken: each.reduce((a, s) => a + s.taken, 0),
      maxGapMs: Math.max(0, ...each.map((s) => s.maxGapMs)),
      maxSampleMs: Math.max(0, ...each.map((s) => s.maxSampleMs)),
      maxSendMs: Math.max(0, ...each.map((s) => s.maxSendMs)),
      processes: each,
    };
  }

  /** Each process closes its fleet and exits (its beats settled, its servers closed); one that does not within 15 s is killed by its pid. */
  async close(): Promise<void> {
    await Promise.all(this.#children.map(async (c) => {
      if (c.alive && c.hosts.length > 0) await c.call({ op: 'close' }, 15_000).catch(() => undefined);
      if (c.alive && c.hosts.length === 0) c.kill(); // never started (a failed start): nothing to close
      const t = setTimeout(() => c.kill(), 15_000);
      await c.exited;
      clearTimeout(t);
    }));
    process.off('exit', this.#onExit);
  }
}
