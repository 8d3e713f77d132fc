import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { abortReason, deadline, type WaitOptions } from '../../util/deadline.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { FdSendFailedError } from './qemu-errors.js';
import { FD_SENDER_SCRIPT } from './fd-sender-script.js';
import { systemPython } from '../../util/system-python.js';

/** One request: hand `path` to the QEMU behind `socket` as `fdname`, then run `command` on that same monitor. */
export interface FdSendRequest {
  readonly socket: string;
  readonly path: string;
  readonly fdname: string;
  readonly command: { readonly execute: string; readonly arguments?: Record<string, unknown> };
  /** Opened read-only (an incoming migration's stream) rather than write-only into an empty file. */
  readonly read?: boolean | undefined;
  /** The descriptor positioned here first: QEMU reads or writes from it (format 2's device stream, ram-state-header.ts). */
  readonly seek?: number | undefined;
  /**
   * Connected and handed over at once, `command` run only once this held memfd's fill ended (refused if it failed or
   * the memfd is released first): a restore's device stream follows its RAM fill without a round trip between them.
   * The request's time-out then covers the wait; each socket wait has `ioTimeoutMs` (default 10 s).
   */
  readonly afterFill?: HeldMemfd | undefined;
  readonly ioTimeoutMs?: number | undefined;
}

/** What a RAM copy answers: the bytes copied (the data ranges only), and whether the state file was read or written with O_DIRECT. */
export interface RamCopyResult {
  readonly bytes: number;
  readonly direct: boolean;
}

/** A memfd the sender holds for a restoring QEMU: its key, and the path a QEMU opens it by. */
export interface HeldMemfd {
  readonly key: string;
  readonly path: string;
}

interface Pending {
  resolve(ret: unknown): void;
  reject(err: Error): void;
}

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly ready: Promise<void>;
  readonly pending: Map<number, Pending>;
  stderr: string;
  gone: boolean;
}

export interface FdSenderOptions {
  /** The interpreter (default `python3`). */
  readonly python?: string | undefined;
  readonly logger?: Logger | undefined;
  /** How long a start may take until the child says it is ready (default 10 s: ~25 ms when the machine is idle). */
  readonly startTimeoutMs?: number | undefined;
}

/**
 * A long-lived Python child that hands QEMU a file descriptor over a VM's
 * fd-passing monitor (`getfd` with SCM_RIGHTS, which Node cannot send) and
 * runs one command after it there (fd-sender-script.ts). Started by `start`
 * (the driver's adoption) or at the first request, and kept, since Python's
 * own start (~25 ms) would be a fifth of a small save; requests may overlap
 * (one thread each in the child).
 *
 * Every failure is a FdSendFailedError: `ambiguous` when the command may have
 * reached QEMU (the child died, or did not answer in time — it is then
 * killed, so that it does nothing later). A dead child is replaced at the
 * next request. The child keeps neither this process alive (unreferenced while
 * idle) nor itself once this process is gone (its stdin closes).
 */
export class FdSender {
  readonly #python: string;
  readonly #log: Logger | undefined;
  readonly #startTimeoutMs: number;
  #child: Child | undefined;
  #nextId = 1;
  #closed = false;

  constructor(o: FdSenderOptions = {}) {
    this.#python = o.python ?? systemPython();
    this.#log = o.logger;
    this.#startTimeoutMs = o.startTimeoutMs ?? 10_000;
  }

  /** The running child's pid (tests). */
  get pid(): number | undefined {
    return this.#child?.gone === false ? this.#child.proc.pid : undefined;
  }

  /** Starts the child unless one runs; resolves once it is ready. */
  async start(opts: WaitOptions = {}): Promise<void> {
    if (this.#closed) throw new FdSendFailedError('unavailable', 'the fd sender is closed', false);
    const child = this.#child !== undefined && !this.#child.gone ? this.#child : this.#spawn();
    const d = deadline('the start of the fd sender', Math.min(opts.timeoutMs ?? this.#startTimeoutMs, this.#startTimeoutMs), opts.signal);
    try {
      await Promise.race([child.ready, new Promise<never>((_, reject) => d.signal.addEventListener('abort', () => reject(abortReason(d.signal, 'starting the fd sender')), { once: true }))]);
    } catch (err) {
      this.#end(child);
      throw err instanceof FdSendFailedError ? err : new FdSendFailedError('unavailable', `the fd sender did not start: ${errorMessage(err)}`, false);
    } finally {
      d.dispose();
    }
  }

  /** Sends one request; resolves with the command's `return`. */
  async send(req: FdSendRequest, opts: WaitOptions = {}): Promise<unknown> {
    const { afterFill, ioTimeoutMs, ...rest } = req;
    const waiting = afterFill === undefined ? {} : { afterFill: afterFill.key, fillWaitMs: Math.max(100, (opts.timeoutMs ?? 10_000) - 1_000), ioTimeoutMs: ioTimeoutMs ?? 10_000 };
    return this.#request({ ...rest, ...waiting }, `${req.command.execute} on ${req.socket}`, opts);
  }

  /**
   * Copies the guest RAM in `memfd` (a QEMU's, /proc/<pid>/fd/<n>, of `bytes`) into `path` at `offset`, its data
   * ranges only, with `threads` threads: O_DIRECT from the memfd's mapping (`direct`), or through the page cache
   * flushed behind on a file system that refuses O_DIRECT; durable (fdatasync) once answered unless `sync` is false
   * (the caller syncs the file).
   */
  async saveRam(r: { readonly memfd: string; readonly path: string; readonly offset: number; readonly bytes: number; readonly threads: number; readonly sync?: boolean }, opts: WaitOptions = {}): Promise<RamCopyResult> {
    return ramCopyResult(await this.#request({ op: 'ram-save', ...r }, `the RAM copy into ${r.path}`, opts));
  }

  /** A new memfd of `bytes`, held by the sender until `releaseMemfd` (or its end). */
  async createMemfd(bytes: number, opts: WaitOptions = {}): Promise<HeldMemfd> {
    const ret = await this.#request({ op: 'memfd-create', bytes }, 'a memfd', opts) as { key?: unknown; path?: unknown } | null;
    if (typeof ret?.key !== 'string' || typeof ret.path !== 'string') throw new FdSendFailedError('refused', 'the fd sender answered no memfd', false);
    return { key: ret.key, path: ret.path };
  }

  /** Fills a held memfd from `path` at `offset` (`bytes` of it; the file's holes stay zero). */
  async fillMemfd(m: HeldMemfd, r: { readonly path: string; readonly offset: number; readonly bytes: number; readonly threads: number; readonly prefetch?: readonly [number, number] | undefined }, opts: WaitOptions = {}): Promise<RamCopyResult> {
    return ramCopyResult(await this.#request({ op: 'memfd-fill', key: m.key, ...r }, `the RAM fill from ${r.path}`, opts));
  }

  /** Closes the sender's descriptor of a held memfd (a QEMU that opened it keeps its own). A sender gone has none left. */
  async releaseMemfd(m: HeldMemfd, opts: WaitOptions = {}): Promise<void> {
    if (this.#child === undefined || this.#child.gone) return;
    await this.#request({ op: 'memfd-release', key: m.key }, 'a memfd\'s release', opts);
  }

  async #request(body: Record<string, unknown>, what: string, opts: WaitOptions): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    await this.start({ ...opts, timeoutMs });
    const child = this.#child;
    if (child === undefined || child.gone) throw new FdSendFailedError('unavailable', 'the fd sender ended as it started', false);
    const id = this.#nextId++;
    // The child's own socket waits end a little before ours, so that a QEMU that does not answer is reported by it.
    const line = `${JSON.stringify({ id, ...body, timeoutMs: Math.max(100, timeoutMs - 500) })}\n`;
    const d = deadline(`the fd sender's answer (${what})`, timeoutMs, opts.signal);
    this.#ref(child, true);
    try {
      return await new Promise<unknown>((resolve, reject) => {
        child.pending.set(id, { resolve, reject });
        d.signal.addEventListener('abort', () => {
          child.pending.delete(id);
          // Ended, so that a request it may still be carrying out does nothing after this: the caller decides alone.
          this.#end(child);
          reject(new FdSendFailedError('ambiguous', `the fd sender did not answer: ${errorMessage(abortReason(d.signal, 'waiting for the fd sender'))}`, true));
        }, { once: true });
        child.proc.stdin.write(line, (err) => {
          if (err) {
            child.pending.delete(id);
            reject(new FdSendFailedError('ambiguous', `could not write to the fd sender: ${err.message}`, true));
          }
        });
      });
    } finally {
      d.dispose();
      if (child.pending.size === 0) this.#ref(child, false);
    }
  }

  /** Ends the child (its stdin closed, SIGKILL if it has not gone within `graceMs`). */
  async close(graceMs = 2_000): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.gone) return;
    const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
    child.proc.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    if (!child.gone) {
      child.proc.kill('SIGKILL');
      await exited;
    }
  }

  #spawn(): Child {
    const proc = spawn(this.#python, ['-I', '-S', '-c', FD_SENDER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let ready!: () => void;
    let failed!: (err: Error) => void;
    const child: Child = { proc, ready: new Promise<void>((res, rej) => { ready = res; failed = rej; }), pending: new Map(), stderr: '', gone: false };
    child.ready.catch(() => {});
    this.#child = child;
    proc.stdin.on('error', () => {});
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (s: string) => (child.stderr = (child.stderr + s).slice(-2000)));
    createInterface({ input: proc.stdout }).on('line', (text) => {
      let msg: { ready?: unknown; id?: unknown; ok?: unknown; return?: unknown; error?: unknown; sent?: unknown };
      try {
        msg = JSON.parse(text) as typeof msg;
      } catch {
        return;
      }
      if (msg.ready === true) {
        this.#log?.info({ senderPid: proc.pid }, 'fd sender started');
        return ready();
      }
      if (typeof msg.id !== 'number') return;
      const p = child.pending.get(msg.id);
      if (p === undefined) return;
      child.pending.delete(msg.id);
      if (msg.ok === true) p.resolve(msg.return);
      else p.reject(new FdSendFailedError(msg.sent === true ? 'ambiguous' : 'refused', String(msg.error), msg.sent === true));
    });
    const gone = (why: string): void => {
      if (child.gone) return;
      child.gone = true;
      if (this.#child === child) this.#child = undefined;
      const err = new FdSendFailedError('ambiguous', `the fd sender ended (${why})${child.stderr === '' ? '' : `: ${child.stderr.trim().split('\n').at(-1)}`}`, true);
      failed(new FdSendFailedError('unavailable', err.message, false));
      for (const p of child.pending.values()) p.reject(err);
      child.pending.clear();
      this.#log?.warn({ senderPid: proc.pid, why }, 'fd sender ended');
    };
    proc.on('error', (err) => gone(err.message));
    proc.on('exit', (code, signal) => gone(signal !== null ? `signal ${signal}` : `exit ${code}`));
    this.#ref(child, false);
    return child;
  }

  #end(child: Child): void {
    if (!child.gone) child.proc.kill('SIGKILL');
  }

  /** Referenced only while a request waits: an idle child never keeps this process running. */
  #ref(child: Child, on: boolean): void {
    for (const h of [child.proc, child.proc.stdin, child.proc.stdout, child.proc.stderr] as unknown as { ref?(): void; unref?(): void }[]) {
      if (on) h.ref?.();
      else h.unref?.();
    }
  }
}

function ramCopyResult(ret: unknown): RamCopyResult {
  const r = ret as { bytes?: unknown; direct?: unknown } | null;
  if (typeof r?.bytes !== 'number' || typeof r.direct !== 'boolean') throw new FdSendFailedError('refused', 'the fd sender answered no byte count', false);
  return { bytes: r.bytes, direct: r.direct };
}
