import { spawn, type ChildProcess } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { abortReason } from '../util/deadline.js';
import { FlushBehind } from '../util/flush-behind.js';
import { TrailingHash } from './hash-file.js';
import { KERNEL_COPY_SCRIPT } from './kernel-copy-script.js';
import { BURST_MS, Pacer } from './pacer.js';
import { FileTransferError } from './pull-file.js';
import { systemPython } from '../util/system-python.js';

/** The largest slice of a paced kernel copy: large enough that a slice's syscall costs nothing beside its bytes, small enough that progress (and the hash that trails it) moves steadily. */
export const KERNEL_SLICE_BYTES = 16 * 1024 * 1024;

export interface KernelPacedCopy {
  /** The source, opened and checked as the offered inode: the child copies from this very descriptor. */
  readonly src: FileHandle;
  readonly srcPath: string;
  /** Created or truncated. */
  readonly dest: string;
  readonly sizeBytes: number;
  readonly bytesPerSecond: number;
  readonly onBytes?: ((n: number) => void) | undefined;
  /** Told once the child copied everything, before the digest is known (LocalCopyRequest.onWritten). */
  readonly onWritten?: (() => void) | undefined;
  readonly signal: AbortSignal;
  /** The interpreter (default: systemPython(), Debian's python3 when there). */
  readonly python?: string | undefined;
}

/**
 * A capped copy by the kernel: a python3 child (kernel-copy-script.ts) paces
 * `copy_file_range` in slices of about one burst of the cap — the cap holds
 * from the first slice, as on the network — and prints its progress, which
 * is told to `onBytes`, to a TrailingHash (the source's sha256 is computed by a
 * worker thread on the other core from the same descriptor, no further than
 * the copy has got or the cap allows since the worker's start: it reads the
 * disk no faster than the copy may, and the child's start does not hold it
 * back — the hash, not the kernel's copy, is what a capped copy waits for
 * last) and to a
 * FlushBehind on the copy (so that the final fsync has only the tail left;
 * that one starts as soon as the child has copied everything, beside the
 * hash's last reads, rather than after them).
 * The bytes never pass through this process, which does a few small
 * things a slice. Resolves with the source's sha256 once the child copied
 * `sizeBytes` and exited. On abort the child is SIGKILLed and waited for;
 * on any failure nothing of it runs once this settles (the caller removes the
 * copy). Resolves undefined, having copied nothing, when the interpreter
 * cannot be started: the caller copies another way.
 * @throws FileTransferError (the source ended early, the child failed), the signal's reason
 */
export async function copyKernelPaced(r: KernelPacedCopy): Promise<string | undefined> {
  const what = `local copy of ${r.srcPath}`;
  const slice = new Pacer(r.bytesPerSecond).sliceBytes(KERNEL_SLICE_BYTES);
  if (r.signal.aborted) throw abortReason(r.signal, what);
  const out = await open(r.dest, 'w', 0o600);
  let child: ChildProcess | undefined;
  // 'close' comes after the exit and the end of the child's output (every progress line read), and after a failed spawn too.
  let closed: Promise<Ended> = Promise.resolve({ code: null, signal: null });
  try {
    child = spawn(r.python ?? systemPython(), ['-I', '-S', '-c', KERNEL_COPY_SCRIPT, String(r.sizeBytes), String(r.bytesPerSecond), String(slice), String(BURST_MS)], {
      stdio: ['pipe', 'pipe', 'pipe', r.src.fd, out.fd],
    });
    const c = child;
    closed = new Promise<Ended>((resolve) => c.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })));
    const started = await new Promise<boolean>((resolve) => {
      c.once('spawn', () => resolve(true));
      c.once('error', () => resolve(false));
    });
    if (!started) return undefined;
    return await followCopy(c, closed, out, r, slice, what);
  } finally {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await closed;
    await out.close();
  }
}

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The copy's progress into the hash, the flush and `onBytes`, until the child exits; the digest once it copied everything. */
async function followCopy(child: ChildProcess, closed: Promise<Ended>, out: FileHandle, r: KernelPacedCopy, slice: number, what: string): Promise<string> {
  // Paced by the cap from now, not only by the copy's progress: the child's start (python's: 10 ms idle, a few hundred
  // on a busy machine) and first slice would hold the hash back, and the hash is what a copy on two cores waits for.
  // Its burst is the copy's (the child runs up to a slice and BURST_MS of the cap ahead of the rate): a hash held to
  // less than the copy may read falls behind it for good under a cap near the hash's own speed.
  const hash = new TrailingHash(r.srcPath, { fd: r.src.fd, sizeBytes: r.sizeBytes, signal: r.signal, what, pace: { bytesPerSecond: r.bytesPerSecond, burstBytes: slice + Math.floor((r.bytesPerSecond * BURST_MS) / 1000) } });
  const flush = new FlushBehind(out);
  let stderr = '';
  let at = 0;
  child.stdin!.on('error', () => {});
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => void (stderr = (stderr + s).slice(-2000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const now = Number(line);
    if (!Number.isSafeInteger(now) || now <= at) return;
    const n = now - at;
    at = now;
    hash.advance(at);
    flush.wrote(at);
    r.onBytes?.(n);
  });
  const kill = (): void => void child.kill('SIGKILL');
  r.signal.addEventListener('abort', kill, { once: true });
  if (r.signal.aborted) kill();
  try {
    const { code, signal } = await closed;
    if (r.signal.aborted) throw abortReason(r.signal, what);
    const told = stderr.trim().split('\n').at(-1) ?? '';
    if (code === 2) throw new FileTransferError(what, told);
    if (code !== 0) throw new FileTransferError(what, `the kernel copy ended (${signal ?? code})${told ? `: ${told}` : ''}`);
    if (at !== r.sizeBytes) throw new FileTransferError(what, `the kernel copy told ${at} of ${r.sizeBytes} bytes`);
    // The copy is whole: its last bytes go to the disk while the hash, on the other core, reads its last ones.
    flush.finish();
    r.onWritten?.();
    return (await hash.digest()).sha256;
  } finally {
    r.signal.removeEventListener('abort', kill);
    // Nothing left reading `src` (the caller closes it next) or flushing `out` once this settles.
    await hash.settle();
    await flush.settled();
  }
}
