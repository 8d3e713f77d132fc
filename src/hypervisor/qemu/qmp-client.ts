import { createConnection, type Socket } from 'node:net';
import { EventEmitter, on } from 'node:events';
import { QmpDisconnectedError, QmpError, QmpProtocolError } from './qmp-error.js';
import type { QmpCommandName, QmpCommands, QmpEvent } from './qmp-schema.js';
import { abortReason, deadline, type WaitOptions } from '../../util/deadline.js';

interface Pending {
  readonly command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

type ArgsParam<K extends QmpCommandName> = QmpCommands[K]['args'] extends undefined ? [args?: undefined, opts?: WaitOptions] : [args: QmpCommands[K]['args'], opts?: WaitOptions];

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A QMP connection: line-delimited JSON over a unix socket. Every command gets
 * a request id, a timeout and an AbortSignal; events are delivered to
 * `waitForEvent`/`events` consumers. When QEMU exits, every pending call is
 * rejected with QmpDisconnectedError and later calls fail at once, so that no
 * caller hangs on a dead VM.
 */
export class QmpClient {
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #emitter = new EventEmitter();
  #buffer = '';
  #nextId = 1;
  #closed: QmpDisconnectedError | undefined;
  #closing = false;

  private constructor(readonly socketPath: string, socket: Socket) {
    this.#socket = socket;
    // Consumers attach and detach often (one per wait); the default cap of 10 is too small.
    this.#emitter.setMaxListeners(0);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (err) => this.#onClose(err.message));
    socket.on('close', () => this.#onClose(this.#closing ? 'closed by client' : 'QEMU closed the socket'));
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(socketPath: string, opts: WaitOptions = {}): Promise<QmpClient> {
    const d = deadline(`QMP connect ${socketPath}`, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal);
    try {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = createConnection(socketPath);
        const fail = (err: Error): void => {
          s.destroy();
          reject(err);
        };
        const onAbort = (): void => fail(abortReason(d.signal, 'QMP connect'));
        d.signal.addEventListener('abort', onAbort, { once: true });
        s.once('connect', () => {
          d.signal.removeEventListener('abort', onAbort);
          s.off('error', fail);
          resolve(s);
        });
        s.once('error', fail);
      });
      const client = new QmpClient(socketPath, socket);
      try {
        await client.#waitGreeting(d.signal);
        await client.execute('qmp_capabilities', {}, { signal: d.signal });
      } catch (err) {
        client.close();
        throw err;
      }
      return client;
    } finally {
      d.dispose();
    }
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Sends a command of the typed schema and resolves with its `return` value. */
  execute<K extends QmpCommandName>(command: K, ...[args, opts]: ArgsParam<K>): Promise<QmpCommands[K]['result']> {
    return this.executeUnchecked(command, args, opts) as Promise<QmpCommands[K]['result']>;
  }

  /** Sends any command; the result is not typed. */
  executeUnchecked(command: string, args?: Record<string, unknown>, opts: WaitOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = `nubo-${this.#nextId++}`;
    const d = deadline(`QMP ${command}`, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal);
    return new Promise<unknown>((resolve, reject) => {
      const settle = (): void => {
        this.#pending.delete(id);
        d.dispose();
      };
      this.#pending.set(id, {
        command,
        resolve: (v) => {
          settle();
          resolve(v);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      d.signal.addEventListener('abort', () => this.#pending.get(id)?.reject(abortReason(d.signal, `QMP ${command}`)), { once: true });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.#socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Resolves with the first event named `name` (and matching `match`) from now on. */
  waitForEvent(name: string, opts: WaitOptions & { match?: (e: QmpEvent) => boolean } = {}): Promise<QmpEvent> {
    if (this.#closed) return Promise.reject(this.#closed);
    const d = deadline(`QMP event ${name}`, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal);
    return new Promise<QmpEvent>((resolve, reject) => {
      const cleanup = (): void => {
        d.dispose();
        this.#emitter.off('event', onEvent);
        this.#emitter.off('close', onClose);
      };
      const onEvent = (e: QmpEvent): void => {
        if (e.event !== name || (opts.match && !opts.match(e))) return;
        cleanup();
        resolve(e);
      };
      const onClose = (err: Error): void => {
        cleanup();
        reject(err);
      };
      this.#emitter.on('event', onEvent);
      this.#emitter.on('close', onClose);
      d.signal.addEventListener('abort', () => onClose(abortReason(d.signal, `QMP event ${name}`)), { once: true });
    });
  }

  /** All events from now on, until the signal aborts or the connection closes. */
  async *events(signal?: AbortSignal): AsyncGenerator<QmpEvent> {
    if (this.#closed) return;
    const ctl = new AbortController();
    const stop = (): void => ctl.abort();
    this.#emitter.once('close', stop);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const [e] of on(this.#emitter, 'event', { signal: ctl.signal })) yield e as QmpEvent;
    } catch (err) {
      if (!ctl.signal.aborted) throw err;
    } finally {
      this.#emitter.off('close', stop);
      signal?.removeEventListener('abort', stop);
    }
  }

  /** Subscribes to the connection's end (QEMU exit); returns an unsubscribe function. */
  onClose(listener: (err: QmpDisconnectedError) => void): () => void {
    if (this.#closed) {
      queueMicrotask(() => listener(this.#closed!));
      return () => {};
    }
    this.#emitter.on('close', listener);
    return () => this.#emitter.off('close', listener);
  }

  /** Closes the connection; pending calls are rejected. */
  close(): void {
    this.#closing = true;
    this.#socket.destroy();
    this.#onClose('closed by client');
  }

  #waitGreeting(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        this.#emitter.off('greeting', onGreeting);
        this.#emitter.off('close', onFail);
        signal.removeEventListener('abort', onAbort);
      };
      const onGreeting = (): void => {
        cleanup();
        resolve();
      };
      const onFail = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onAbort = (): void => onFail(abortReason(signal, 'QMP greeting'));
      this.#emitter.once('greeting', onGreeting);
      this.#emitter.once('close', onFail);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl: number;
    while ((nl = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line) this.#onMessage(line);
    }
  }

  #onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#fail(new QmpProtocolError(this.socketPath, `not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if ('QMP' in msg) {
      this.#emitter.emit('greeting');
      return;
    }
    if (typeof msg['event'] === 'string') {
      this.#emitter.emit('event', {
        event: msg['event'],
        data: (msg['data'] ?? {}) as Record<string, unknown>,
        timestamp: msg['timestamp'] as QmpEvent['timestamp'],
      } satisfies QmpEvent);
      return;
    }
    const id = typeof msg['id'] === 'string' ? msg['id'] : undefined;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending) return; // an answer to a call that already timed out
    if ('error' in msg) {
      const e = (msg['error'] ?? {}) as { class?: string; desc?: string };
      pending.reject(new QmpError(pending.command, e.class ?? 'GenericError', e.desc ?? 'unknown error'));
    } else {
      pending.resolve(msg['return']);
    }
  }

  #fail(err: Error): void {
    for (const p of [...this.#pending.values()]) p.reject(err);
  }

  #onClose(reason: string): void {
    if (this.#closed) return;
    this.#closed = new QmpDisconnectedError(this.socketPath, reason);
    this.#fail(this.#closed);
    this.#emitter.emit('close', this.#closed);
  }
}
