import { Worker } from 'node:worker_threads';
import type { HashPoolReply, HashPoolRequest } from './hash-pool-messages.js';

/** A hash whose work is done on HashPool's thread; update() resolves when there is room for more. */
export interface PooledHash {
  /** Copies `data` to the hashing thread; the promise settles once no more than the in-flight limit waits there. */
  update(data: Uint8Array): Promise<void>;
  /** The hex digest, after every update; the hash is finished. */
  digest(): Promise<string>;
  /** Abandons the hash (an upload that failed). */
  drop(): void;
}

interface Job {
  inFlight: number;
  failed: Error | undefined;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  digest: { resolve: (hex: string) => void; reject: (e: Error) => void } | undefined;
}

/** At most this many bytes of one hash wait on the hashing thread before update() holds its caller back. */
const IN_FLIGHT_LIMIT = 16 * 1024 * 1024;

/**
 * Hashes of streams computed off the event loop, on one long-lived worker
 * thread shared by every stream. An S3 PUT's MD5 (its ETag) costs more CPU
 * than everything else the upload does (about 560 MB/s on these machines,
 * against 1.3 GB/s for SHA-256 with the CPU's SHA extensions): done on the
 * event loop it caps the upload at that speed and stalls every other request
 * meanwhile, while on a thread of its own it runs beside the socket and disk
 * work. One thread, not one per upload: a worker's start costs tens of
 * milliseconds (an awscli upload is 128 parts of 8 MiB), and two cores have
 * no room for more. The worker does not keep the process alive.
 */
export class HashPool {
  #worker: Worker | undefined;
  #nextJob = 1;
  readonly #jobs = new Map<number, Job>();

  open(algorithm: 'md5' | 'sha256' | 'sha1'): PooledHash {
    const job = this.#nextJob++;
    const state: Job = { inFlight: 0, failed: undefined, waiters: [], digest: undefined };
    this.#jobs.set(job, state);
    const worker = this.#ensureWorker();
    // Kept alive while a hash is open (a caller awaiting digest() must not see the process end), not otherwise.
    worker.ref();
    const send = (m: HashPoolRequest, transfer?: ArrayBuffer[]): void => worker.postMessage(m, transfer);
    return {
      update: (data) => {
        if (state.failed) return Promise.reject(state.failed);
        // A copy of its own, moved to the worker: the caller's buffer is still on its way to disk.
        const copy = new Uint8Array(data);
        state.inFlight += copy.byteLength;
        send({ op: 'update', job, algorithm, data: copy }, [copy.buffer]);
        if (state.inFlight <= IN_FLIGHT_LIMIT) return Promise.resolve();
        return new Promise<void>((resolve, reject) => state.waiters.push({ resolve, reject }));
      },
      digest: () => {
        if (state.failed) return Promise.reject(state.failed);
        return new Promise<string>((resolve, reject) => {
          state.digest = { resolve, reject };
          send({ op: 'digest', job, algorithm });
        });
      },
      drop: () => {
        if (!this.#jobs.delete(job)) return;
        send({ op: 'drop', job });
        this.#idle();
      },
    };
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./hash-pool-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (m: HashPoolReply) => this.#onReply(m));
    const fail = (err: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [job, state] of this.#jobs) {
        state.failed = err;
        for (const w of state.waiters.splice(0)) w.reject(err);
        state.digest?.reject(err);
        this.#jobs.delete(job);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the hashing thread exited (${code})`)));
    this.#worker = worker;
    return worker;
  }

  #onReply(m: HashPoolReply): void {
    const state = this.#jobs.get(m.job);
    if (state === undefined) return;
    if (m.op === 'ack') {
      state.inFlight -= m.bytes;
      if (state.inFlight <= IN_FLIGHT_LIMIT) for (const w of state.waiters.splice(0)) w.resolve();
    } else if (m.op === 'digest') {
      this.#jobs.delete(m.job);
      this.#idle();
      state.digest?.resolve(m.hex);
    } else {
      const err = new Error(`hashing failed: ${m.message}`);
      state.failed = err;
      for (const w of state.waiters.splice(0)) w.reject(err);
      state.digest?.reject(err);
      this.#jobs.delete(m.job);
      this.#idle();
    }
  }

  #idle(): void {
    if (this.#jobs.size === 0) this.#worker?.unref();
  }

  /** Ends the thread (tests; a daemon's pool ends with the process). */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}

/** The process's one pool, made on first use. */
let shared: HashPool | undefined;
export function sharedHashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}
