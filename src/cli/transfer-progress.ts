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
 * A download's progress: on a terminal a bar with the percent when the size
 * is known, else the bytes so far, with the rate; elsewhere nothing (the
 * command prints the file and its size when it is written).
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
  bar.start(1, 0);
  let stopped = false;
  return {
    update(b, t) {
      bytes = b;
      total = t;
      bar.update(t === undefined || t === 0 ? 0 : Math.min(1, b / t));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

/**
 * A request that answers only when its work is done (a disk copy): on a
 * terminal what is under way and for how long, cleared at the end; elsewhere
 * one line saying what is under way.
 */
export function startBusyProgress(label: string, o: ProgressOptions = {}): Progress {
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
