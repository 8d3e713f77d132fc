import cliProgress from 'cli-progress';
import { fmtBytes } from './output.js';

/** A progress display for a long request; stop() is idempotent. */
export interface Progress {
  stop(): void;
}

export interface ByteProgress extends Progress {
  /** Bytes received so far, and the whole size when the server said it (Content-Length). */
  update(bytes: number, total: number | undefined): void;
}

export interface ProgressOptions {
  /** Where to draw; stderr, so that stdout stays the command's result. */
  readonly stream?: NodeJS.WriteStream;
  /** Default: whether the stream is a terminal. */
  readonly tty?: boolean;
}

const secs = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/**
 * A download's progress: on a terminal, from its first bytes, a bar with the
 * percent when the size is known, else the bytes so far, with the rate;
 * elsewhere nothing (the command prints the file and its size when it is written).
 */
export function startByteProgress(label: string, o: ProgressOptions = {}): ByteProgress {
  const stream = o.stream ?? process.stderr;
  if (!(o.tty ?? stream.isTTY === true)) return { update() {}, stop() {} };
  const t0 = Date.now();
  let bytes = 0;
  let total: number | undefined;
  const rate = (): string => `${fmtBytes(Math.round(bytes / Math.max((Date.now() - t0) / 1000, 0.001)))}/s`;
  const bar = new cliProgress.SingleBar({
    format: (opts, params) => {
      if (total === undefined) return `${label} ${fmtBytes(bytes)} · ${rate()} · ${secs(t0)}`;
      const width = opts.barsize ?? 20;
      const full = Math.round(params.progress * width);
      return `${label} [${'█'.repeat(full)}${'░'.repeat(width - full)}] ${Math.floor(params.progress * 100)}% ${fmtBytes(bytes)} of ${fmtBytes(total)} · ${rate()}`;
    },
    barsize: 20,
    hideCursor: true,
    clearOnComplete: false,
    stream,
    fps: 10,
  });
  // Drawn from the first bytes on: before them the server may still refuse (no such VM), and that refusal is all the user sees.
  let started = false;
  let stopped = false;
  return {
    update(b, t) {
      if (stopped) return;
      bytes = b;
      total = t;
      if (!started) bar.start(1, 0);
      started = true;
      bar.update(t === undefined || t === 0 ? 0 : Math.min(1, b / t));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (started) bar.stop();
    },
  };
}

const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

/**
 * A request that answers only when its work is done (a disk copy): on a
 * terminal what is under way and for how long, cleared at the end; elsewhere
 * one line saying what is under way. Nothing is shown before `afterMs` (default
 * 0): the server refuses a request (no such VM, a bad state or name) within
 * milliseconds, before any copy, and such a refusal is then all the user sees.
 */
export function startBusyProgress(label: string, o: ProgressOptions & { readonly afterMs?: number } = {}): Progress {
  let shown: Progress | undefined;
  let stopped = false;
  const show = (): void => {
    if (!stopped) shown = showBusyProgress(label, o);
  };
  const timer = (o.afterMs ?? 0) > 0 ? setTimeout(show, o.afterMs) : undefined;
  if (timer === undefined) show();
  else timer.unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      shown?.stop();
    },
  };
}

function showBusyProgress(label: string, o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  if (!(o.tty ?? stream.isTTY === true)) {
    stream.write(`${label} …\n`);
    return { stop() {} };
  }
  const t0 = Date.now();
  const bar = new cliProgress.SingleBar({
    format: () => `${SPINNER[Math.floor((Date.now() - t0) / 100) % SPINNER.length] ?? ' '} ${label} ${secs(t0)}`,
    hideCursor: true,
    clearOnComplete: true,
    stream,
    fps: 10,
  });
  bar.start(1, 0);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
