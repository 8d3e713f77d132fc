import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { NuboError, errorMessage } from '../errors/nubo-error.js';
import { imageInfo, type ImageInfo } from '../storage/qemu-img.js';
import { handled } from '../util/handled.js';
import { runCommand } from '../util/run-command.js';
import type { AgentVmSpec, ReceiveStatus, TransferFileName, receiveRequestSchema } from '../contract/agent-api.js';
import { fetchFile } from '../transfer/fetch-file.js';
import { prewarmHashWorker } from '../transfer/hash-file.js';
import { Pacer } from '../transfer/pacer.js';
import type { z } from 'zod';

type ReceiveRequest = z.output<typeof receiveRequestSchema>;

/** The marker of a cold migration's copy in a VM directory: with no spec beside it, the copy is partial. */
export const RECEIVE_MARKER = 'receiving.json';

/** A cold migration's copy that cannot be received as it came (the pull itself fails with its own FileTransferError). */
export class ReceiveError extends NuboError {
  readonly code = 'COLD_RECEIVE_FAILED';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}

/** Where a received VM's files go on this host: what AgentService knows about its datastores. */
export interface ReceiveTarget {
  /** `<dataDir>/vms/<id>`: the marker, the spec, the saved memory, and (local datastore) the disk and config drive. */
  readonly dir: string;
  readonly specFile: string;
  /** Final path of each file the VM's datastore lets a copy bring. */
  readonly paths: Readonly<Partial<Record<TransferFileName, string>>>;
  /** The disk's path when it lives on the shared datastore (must be there already: nothing is copied). */
  readonly sharedDisk?: string | undefined;
  /** Fetches the base image (this host's cache, same sha256), kernel and initrd; returns the base's path. */
  readonly ensureImages: (signal: AbortSignal) => Promise<string>;
  /** Writes the spec last: a VM directory with a spec is complete. */
  readonly writeSpec: () => Promise<void>;
}

interface Job {
  readonly migrationId: string;
  readonly abort: AbortController;
  readonly status: { state: ReceiveStatus['state']; copiedBytes: number; totalBytes: number; files: ReceiveStatus['files']; error?: string };
  done: Promise<void>;
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The destination side of a cold migration: pulls a transfer offer's files
 * from the source agent into temporary names, checks every one against the
 * source's size and sha256, points the disk overlay at this host's copy of
 * its base image, and only then renames them into place and writes the spec.
 * (The small files are copied beside the disk, and without a cap every file is. The disk is
 * adopted — its header read, its overlay rebased — as soon as a local copy
 * has every byte, beside the source's hash; what that did counts only once
 * the copy is verified.) Any failure — or `stop` — removes everything it wrote; a copy cut short by
 * a crash of this agent is removed by `sweep` when the agent starts again.
 * The source's files are never touched here.
 */
export class ColdReceiver {
  readonly #jobs = new Map<string, Job>();

  /** @param o.localCopies false: always over the network, even from an agent on this machine (default true) */
  constructor(private readonly o: { readonly dataDir: string; readonly logger: Logger; readonly localCopies?: boolean | undefined }) {
    // A copy from an agent on this machine waits last for the source's hash (copyLocalFile): its thread is started
    // now, idle, rather than when the copy starts (40–200 ms a start).
    if (o.localCopies !== false) prewarmHashWorker();
  }

  /** The copy this process runs or ran for the VM (its outcome is kept until stop or commit). */
  job(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** What the VM's directory says when no copy of this process knows it: a complete copy awaiting commit, or a committed one. */
  async statusOnDisk(id: string, dir: string, specFile: string): Promise<ReceiveStatus | undefined> {
    if (!(await exists(specFile))) return undefined;
    const marker = await readFile(join(dir, RECEIVE_MARKER), 'utf8').then((t) => JSON.parse(t) as { migrationId?: string }, () => undefined);
    if (marker === undefined) return { state: 'done', copiedBytes: 0, totalBytes: 0, files: [] };
    return { ...(marker.migrationId !== undefined ? { migrationId: marker.migrationId } : {}), state: 'verified', copiedBytes: 0, totalBytes: 0, files: [] };
  }

  /**
   * Starts the copy (the caller holds the VM's lock and checked that this
   * host holds no other copy of it). Resolves to the job; `job.done` settles
   * when the copy ended, either way (it never rejects).
   */
  start(id: string, req: ReceiveRequest, spec: AgentVmSpec, t: ReceiveTarget): Job {
    const total = req.files.reduce((s, f) => s + f.sizeBytes, 0);
    const job: Job = {
      migrationId: req.migrationId,
      abort: new AbortController(),
      status: { state: 'copying', copiedBytes: 0, totalBytes: total, files: req.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })) },
      done: Promise.resolve(),
    };
    this.#jobs.set(id, job);
    job.done = this.#run(id, job, req, spec, t).then(
      () => {
        job.status.state = 'verified';
        this.o.logger.info({ vmId: id, migrationId: req.migrationId, bytes: total }, 'cold migration copy verified and installed');
      },
      async (err: unknown) => {
        // Removed before the failure is told: a caller that sees `failed` finds nothing of the copy left.
        await rm(t.dir, { recursive: true, force: true }).catch(() => {});
        job.status.state = 'failed';
        job.status.error = errorMessage(err);
        this.o.logger.warn({ vmId: id, migrationId: req.migrationId, err: errorMessage(err) }, 'cold migration copy failed; partial files removed');
      },
    );
    return job;
  }

  async #run(id: string, job: Job, req: ReceiveRequest, spec: AgentVmSpec, t: ReceiveTarget): Promise<void> {
    const signal = job.abort.signal;
    await rm(t.dir, { recursive: true, force: true });
    await mkdir(t.dir, { recursive: true });
    // First, so that a crash from here on leaves a directory `sweep` recognises as a partial copy.
    await writeFile(join(t.dir, `${RECEIVE_MARKER}.tmp`), JSON.stringify({ migrationId: req.migrationId }));
    await rename(join(t.dir, `${RECEIVE_MARKER}.tmp`), join(t.dir, RECEIVE_MARKER));
    if (t.sharedDisk !== undefined && !(await exists(t.sharedDisk))) throw new ReceiveError(id, `the shared datastore has no disk ${t.sharedDisk}`);
    const phases: Record<string, number> = {};
    // The base image (a fetch from the image store where this host lacks it: 100+ ms) comes beside the copy: only
    // the overlay's rebase needs it. Its failure stops the copy, and the copy's stops the wait for it (the download
    // itself goes on while anyone else waits for it: image-cache.ts).
    const stopCopy = new AbortController();
    const copySignal = AbortSignal.any([signal, stopCopy.signal]);
    const t0 = performance.now();
    const images = handled(t.ensureImages(copySignal).then((b) => {
      phases['imagesMs'] = Math.round(performance.now() - t0);
      return b;
    }, (err: unknown) => {
      stopCopy.abort(err);
      throw err;
    }));

    // Every file is checked against this datastore first: nothing is copied for a request that names one it cannot hold.
    const parts = req.files.map((f) => {
      const final = t.paths[f.name];
      if (final === undefined) throw new ReceiveError(id, `${f.name} is not copied for a VM on the ${spec.disk.datastore} datastore`);
      return { final, part: `${final}.part`, file: f };
    });
    // The disk's adoption (its header read, checked against the spec, its overlay pointed at this host's base) starts as
    // soon as its bytes are in: a local copy tells that before the source's hash ends, so it runs beside the hash's last
    // reads. It only rewrites the header's backing name (rebase -u), which no digest covers: the digest is of the bytes
    // as they came, computed as they came. What it did counts only once the copy is verified.
    let adoption: Promise<void> | undefined;
    const adopt = (part: string): Promise<void> => (adoption ??= handled((async () => {
      const info = await imageInfo(part, { untrusted: true, signal });
      await this.#adoptDisk(id, part, info, await images, spec, signal);
    })()));
    const copyOne = async ({ file: f, part }: (typeof parts)[number]): Promise<void> => {
      try {
        // From an agent on this machine the kernel copies the file; from anywhere else it comes over the network.
        const { sha256, streamMs, syncMs, hashMs, meanReadBytes, via } = await fetchFile({
          url: `${req.source.url.replace(/\/$/, '')}/agent/v1/transfers/${req.source.transferId}/files/${f.name}`,
          token: req.source.token,
          dest: part,
          sizeBytes: f.sizeBytes,
          maxBytesPerSecond: req.maxBandwidthBytes,
          onBytes: (n) => (job.status.copiedBytes += n),
          signal: copySignal,
          localCopies: this.o.localCopies,
          onWritten: f.name === 'disk.qcow2' ? () => void adopt(part) : undefined,
        });
        const entry = job.status.files.find((x) => x.name === f.name);
        if (entry) entry.sha256 = sha256;
        phases[`${f.name}:streamMs`] = streamMs;
        phases[`${f.name}:syncMs`] = syncMs;
        if (hashMs !== undefined) phases[`${f.name}:hashMs`] = hashMs;
        phases[`${f.name}:meanReadBytes`] = meanReadBytes;
        phases[`${f.name}:local`] = via === 'local' ? 1 : 0;
      } catch (err) {
        // One file failed: the others stop too (the first failure is the one told).
        stopCopy.abort(err);
        throw err;
      }
    };
    // The config drive (and, without a cap, every file) comes beside the disk instead of after it. Under a cap, the
    // files larger than one burst of it go one after another: the cap is the copy's, not each file's.
    const beside = (sizeBytes: number): boolean => req.maxBandwidthBytes === undefined || new Pacer(req.maxBandwidthBytes).withinBurst(sizeBytes);
    const started: Promise<void>[] = [];
    try {
      let inTurn: Promise<void> = Promise.resolve();
      for (const p of parts) {
        if (beside(p.file.sizeBytes)) started.push(handled(copyOne(p)));
        else inTurn = handled(inTurn.then(() => copyOne(p)));
      }
      started.push(inTurn);
      await Promise.all(started);
    } catch (err) {
      // Nothing of the copy runs once it failed (its directory is removed next); a failed image fetch is the cause.
      await Promise.allSettled([...started, adoption, images]);
      throw err;
    }

    // Every byte is what the source sent. The overlay still names the source host's path of its base: point it at ours.
    const disk = parts.find((p) => p.file.name === 'disk.qcow2');
    if (adoption !== undefined) phases['disk.qcow2:adoptedBesideHash'] = 1;
    const t1 = performance.now();
    if (disk) await adopt(disk.part);
    else await images;
    for (const p of parts) await rename(p.part, p.final);
    await t.writeSpec();
    await fsyncPath(t.dir);
    phases['installMs'] = Math.round(performance.now() - t1);
    // One line per copy with where its time went (base image, each file's stream and fsync, rebase and install).
    this.o.logger.info({ vmId: id, migrationId: req.migrationId, ...phases }, 'cold migration copy phases');
  }

  /**
   * Checks that the copied disk is what the spec says (an overlay on the spec's image, or standalone; `info`: its
   * header, read once every byte was in) and rebases an overlay onto this host's cache.
   */
  async #adoptDisk(id: string, path: string, info: ImageInfo, base: string, spec: AgentVmSpec, signal: AbortSignal): Promise<void> {
    if (info.format !== 'qcow2') throw new ReceiveError(id, `the copied disk is ${info.format}, not qcow2`);
    if (spec.disk.mode === 'copy') {
      if (info.backingFile !== undefined) throw new ReceiveError(id, `the copied standalone disk has a backing file (${info.backingFile})`);
      return;
    }
    // Cached images are named after their id and format, the same on every host.
    if (info.backingFile === undefined || basename(info.backingFile) !== basename(base)) {
      throw new ReceiveError(id, `the copied overlay's base is ${info.backingFile ?? 'none'}, not image ${spec.disk.image.id}`);
    }
    // -u: only the header's backing name changes; the base's bytes are the same (same sha256), so no data is touched.
    await runCommand('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', spec.disk.image.format === 'raw' ? 'raw' : 'qcow2', '-b', base, path], { signal, timeoutMs: 60_000 });
    await fsyncPath(path);
  }

  /** Stops the VM's copy, if one runs, and forgets it; resolves once it has cleaned up. */
  async stop(id: string): Promise<void> {
    const job = this.#jobs.get(id);
    if (!job) return;
    job.abort.abort(new ReceiveError(id, 'the copy was stopped'));
    await job.done;
    if (this.#jobs.get(id) === job) this.#jobs.delete(id);
  }

  /** After the commit: the VM is this host's; the marker and the job's record go. */
  async commit(id: string, dir: string): Promise<void> {
    this.#jobs.delete(id);
    await rm(join(dir, RECEIVE_MARKER), { force: true });
  }

  /** At start-up: removes the VM directories a copy left half-written when this agent stopped (a marker and no spec). */
  async sweep(specFileName: string): Promise<string[]> {
    const root = join(this.o.dataDir, 'vms');
    const removed: string[] = [];
    for (const id of await readdir(root).catch(() => [] as string[])) {
      const dir = join(root, id);
      if (!(await exists(join(dir, RECEIVE_MARKER))) || (await exists(join(dir, specFileName)))) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(id);
    }
    if (removed.length > 0) this.o.logger.warn({ vms: removed }, 'removed partial cold-migration copies left by a previous run');
    return removed;
  }
}
