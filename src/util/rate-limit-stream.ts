import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through stream that holds each chunk back until the bytes so far fit
 * `bytesPerSecond` since the first one. Placed in a pipeline it slows the
 * reader, and through back-pressure the sender: an operator's bandwidth cap
 * for a copy between hosts. Destroying the stream (an aborted pipeline)
 * cancels the pending delay.
 */
/** How far ahead of the rate a stream may run before it is held back. */
const BURST_MS = 50;

export function rateLimitStream(bytesPerSecond: number, opts: { readonly highWaterMark?: number } = {}): Transform {
  if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive (got ${bytesPerSecond})`);
  // Chunks are let through in slices of about one burst's worth: a 1 MiB read held back whole
  // at 64 KiB/s would show no progress for 16 s and then arrive at once.
  const slice = Math.max(4096, Math.floor((bytesPerSecond * BURST_MS) / 1000));
  let started: number | undefined;
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const stream: Transform = new Transform({
    ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let offset = 0;
      const next = (): void => {
        while (offset < chunk.length) {
          const piece = chunk.subarray(offset, offset + slice);
          offset += piece.length;
          started ??= Date.now();
          bytes += piece.length;
          const wait = started + (bytes / bytesPerSecond) * 1000 - Date.now();
          // A little ahead of the schedule is let through: timers are coarse, and waiting out every
          // millisecond of a burst would hold a fast copy far below the cap. The average still holds.
          if (wait <= BURST_MS) {
            stream.push(piece);
            continue;
          }
          timer = setTimeout(() => {
            timer = undefined;
            stream.push(piece);
            next();
          }, wait);
          return;
        }
        cb();
      };
      next();
    },
    destroy(err, cb) {
      clearTimeout(timer);
      cb(err);
    },
  });
  return stream;
}
