import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashPoolReply, HashPoolRequest, PoolAlgorithm } from './hash-pool-messages.js';

export type { PoolAlgorithm } from './hash-pool-messages.js';

/** A hash whose work is done on one of HashPool's threads; update() resolves when there is room for more. */
export interface PooledHash {
  /** Copies `data` towards the hashing thread; the promise settles once no more than the in-flight limit waits there. */
  update(data: Uint8Array): Promise<void>;
  /** The hex digest (a CRC's 4 bytes, big-endian), after every update; the hash is finished. */
  digest(): Promise<string>;
  /** Abandons the hash (an upload that failed). */
  drop(): void;
}

interface Job {
  readonly thread: Thread;
  inFlight: number;
  failed: Error | undefined;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  digest: { resolve: (hex: string) => void; reject: (e: Error) => void } | undefined;
}

interface Thread {
  readonly worker: Worker;
  /** Open hashes on this thread. */
  readonly jobs: Set<number>;
}

/** At most this many bytes of one hash wait on its hashing thread before update() holds its caller back. */
const IN_FLIGHT_LIMIT = 16 * 1024 * 1024;
/**
 * Small updates (a socket's 64 KiB reads) are gathered into one message of
 * this size: the copy is made anyway, and one message per MiB instead of
 * per 64 KiB takes most of the cost of posting off the event loop.
 */
const BATCH_BYTES = 1024 * 1024;

/**
 * Hashes of streams computed off the event loop, on long-lived worker
 * threads shared by every stream. An S3 PUT's MD5 (its ETag) costs more CPU
 * than everything else the upload does (about 560 MB/s on these machines,
 * against 1.3 GB/s for SHA-256 with the CPU's SHA extensions): done on the
 * event loop it caps the upload at that speed and stalls every other request
 * meanwhile, while on a thread of its own it runs beside the socket and disk
 * work. One hash stays on one thread (MD5 cannot be split); a new hash goes
 * to the thread with the fewest open ones, so that two parts of a multipart
 * upload in flight are hashed on two threads (as many threads as cores, two
 * at most: a worker's start costs tens of milliseconds, and the event loop
 * needs a core too). Workers do not keep the process alive.
 */
export class HashPool {
  readonly #threads: (Thread | undefined)[];
  #nextJob = 1;
  readonly #jobs = new Map<number, Job>();

  constructor(o: { threads?: number } = {}) {
    this.#threads = new Array<Thread | undefined>(Math.max(1, o.threads ?? Math.min(2, availableParallelism()))).fill(undefined);
  }

  /** How many threads hash side by side at most (their number, whether started yet or not). */
  get threadCount(): number {
    return this.#threads.length;
  }

  open(algorithm: PoolAlgorithm): PooledHash {
    const job = this.#nextJob++;
    const thread = this.#leastBusy();
    const state: Job = { thread, inFlight: 0, failed: undefined, waiters: [], digest: undefined };
    this.#jobs.set(job, state);
    thread.jobs.add(job);
    // Kept alive while a hash is open (a caller awaiting digest() must not see the process end), not otherwise.
    thread.worker.ref();
    const send = (m: HashPoolRequest, transfer?: ArrayBuffer[]): void => thread.worker.postMessage(m, transfer);
    let batch: Uint8Array | undefined;
    let batched = 0;
    const post = (data: Uint8Array): void => {
      state.inFlight += data.byteLength;
      send({ op: 'update', job, algorithm, data }, [data.buffer as ArrayBuffer]);
    };
    const flush = (): void => {
      if (batch === undefined || batched === 0) return;
      post(batched === batch.byteLength ? batch : batch.subarray(0, batched));
      batch = undefined;
      batched = 0;
    };
    return {
      update: (data) => {
        if (state.failed) return Promise.reject(state.failed);
        // Copied into whole batches (the caller's buffer is still on its way to disk), each moved to the thread.
        for (let at = 0; at < data.byteLength;) {
          batch ??= this.#batchBuffer();
          const n = Math.min(batch.byteLength - batched, data.byteLength - at);
          batch.set(data.subarray(at, at + n), batched);
          batched += n;
          at += n;
          if (batched === batch.byteLength) flush();
        }
        if (state.inFlight <= IN_FLIGHT_LIMIT) return Promise.resolve();
        return new Promise<void>((resolve, reject) => state.waiters.push({ resolve, reject }));
      },
      digest: () => {
        if (state.failed) return Promise.reject(state.failed);
        flush();
        return new Promise<string>((resolve, reject) => {
          state.digest = { resolve, reject };
          send({ op: 'digest', job, algorithm });
        });
      },
      drop: () => {
        if (!this.#jobs.delete(job)) return;
        send({ op: 'drop', job });
        this.#idle(thread, job);
      },
    };
  }

  /**
   * A batch's buffer: a new one, not zeroed (every byte posted is written
   * first), moved to the thread and freed there. Handing buffers back for
   * reuse was tried: the buffers moved back and forth made V8's accounting
   * of memory outside its heap run a full collection on nearly every later
   * allocation — a GET after an SDK PUT took 5× the CPU.
   */
  #batchBuffer(): Uint8Array {
    return new Uint8Array(Buffer.allocUnsafeSlow(BATCH_BYTES).buffer, 0, BATCH_BYTES);
  }

  /** The thread with the fewest open hashes, started if it is not running. */
  #leastBusy(): Thread {
    let best = 0;
    let bestLoad = Infinity;
    for (const [i, t] of this.#threads.entries()) {
      const load = t?.jobs.size ?? 0;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return this.#threads[best] ?? this.#start(best);
  }

  #start(slot: number): Thread {
    const worker = new Worker(new URL('./hash-pool-worker.js', import.meta.url));
    worker.unref();
    const thread: Thread = { worker, jobs: new Set() };
    worker.on('message', (m: HashPoolReply) => this.#onReply(m));
    const fail = (err: Error): void => {
      if (this.#threads[slot] === thread) this.#threads[slot] = undefined;
      for (const job of thread.jobs) {
        const state = this.#jobs.get(job);
        this.#jobs.delete(job);
        if (state === undefined) continue;
        state.failed = err;
        for (const w of state.waiters.splice(0)) w.reject(err);
        state.digest?.reject(err);
      }
      thread.jobs.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the hashing thread exited (${code})`)));
    this.#threads[slot] = thread;
    return thread;
  }

  #onReply(m: HashPoolReply): void {
    const state = this.#jobs.get(m.job);
    if (state === undefined) return;
    if (m.op === 'ack') {
      state.inFlight -= m.bytes;
      if (state.inFlight <= IN_FLIGHT_LIMIT) for (const w of state.waiters.splice(0)) w.resolve();
    } else if (m.op === 'digest') {
      this.#jobs.delete(m.job);
      this.#idle(state.thread, m.job);
      state.digest?.resolve(m.hex);
    } else {
      const err = new Error(`hashing failed: ${m.message}`);
      state.failed = err;
      for (const w of state.waiters.splice(0)) w.reject(err);
      state.digest?.reject(err);
      this.#jobs.delete(m.job);
      this.#idle(state.thread, m.job);
    }
  }

  #idle(thread: Thread, job: number): void {
    thread.jobs.delete(job);
    if (thread.jobs.size === 0) thread.worker.unref();
  }

  /**
   * Milliseconds the running threads have spent busy (hashing, or handling a
   * message) since each started, added up: their event loops' active time.
   * bench/s3 compares its growth during a PUT with the PUT's wall time — a
   * hash thread busy nearly all along is what bounds the PUT, the server's
   * other work keeping up beside it. A thread that ended takes its count
   * with it.
   */
  busyMs(): number {
    let ms = 0;
    for (const t of this.#threads) if (t !== undefined) ms += t.worker.performance.eventLoopUtilization().active;
    return ms;
  }

  /** Ends the threads (tests; a daemon's pool ends with the process). */
  async close(): Promise<void> {
    const running = this.#threads.filter((t): t is Thread => t !== undefined);
    this.#threads.fill(undefined);
    await Promise.all(running.map((t) => t.worker.terminate()));
  }
}

/** The process's one pool, made on first use. */
let shared: HashPool | undefined;
export function sharedHashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}
