import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../errors/validation-error.js';
import type { WaitOptions } from '../util/deadline.js';

/**
 * Writes an uploaded body to `dest` (a new file, owner-only): exactly
 * `sizeBytes` bytes, their SHA-256 held against `sha256` if given. A shorter
 * or longer body, or a client that goes away, is an error (400 naming `body`
 * or `sha256`); what was written stays for the caller, whose temporary
 * directory it is, to remove.
 */
export async function receiveUpload(body: Readable, dest: string, expect: { sizeBytes: number; sha256?: string | undefined }, what: string, opts: WaitOptions = {}): Promise<void> {
  const hash = createHash('sha256');
  let received = 0;
  await pipeline(
    body,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        received += chunk.length;
        if (received > expect.sizeBytes) throw new ValidationError(what, [{ field: 'body', message: `longer than the declared ${expect.sizeBytes} bytes` }]);
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(dest, { flags: 'wx', mode: 0o600 }),
    { signal: opts.signal ?? new AbortController().signal },
  );
  if (received !== expect.sizeBytes) throw new ValidationError(what, [{ field: 'body', message: `truncated: ${received} of ${expect.sizeBytes} bytes arrived` }]);
  const digest = hash.digest('hex');
  if (expect.sha256 !== undefined && digest !== expect.sha256) throw new ValidationError(what, [{ field: 'sha256', message: `the body's SHA-256 is ${digest}, not ${expect.sha256}` }]);
}
