import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { Transform, pipeline } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../errors/validation-error.js';
import { bearerToken } from '../http/bearer-token.js';
import { rateLimitStream } from '../util/rate-limit-stream.js';
import { ShortSendError } from './short-send-error.js';
import { transferFileNameSchema } from '../contract/agent-api.js';
import type { TransferOffers } from './transfer-offers.js';

/** Routes under this prefix authenticate with a transfer token, not the host's token. */
export const TRANSFER_ROUTE_PREFIX = '/agent/v1/transfers/';

/** The trailer carrying the sha256 of the bytes the source sent, computed as it sent them. */
export const SHA256_TRAILER = 'x-nubo-sha256';
/** The header announcing the file's size, so the receiver knows a short stream when it sees one. */
export const SIZE_HEADER = 'x-nubo-size';

/**
 * The receiver's bandwidth cap (bytes per second), sent with its request. The
 * source paces its reads to it: a cap applied only where the bytes arrive
 * lets the socket buffers and both ends' stream buffers fill at full speed
 * first — megabytes past the cap in the first second.
 */
export const RATE_HEADER = 'x-nubo-max-bytes-per-second';

/** Read and buffer size of a transfer stream. */
export const CHUNK_BYTES = 1024 * 1024;

const params = z.object({ transferId: z.string().regex(/^[0-9a-f]{32}$/), name: transferFileNameSchema });
const rateSchema = z.string().regex(/^[1-9][0-9]{0,15}$/).transform(Number);

/** The receiver's cap, if it sent one. @throws ValidationError for anything but a positive integer. */
function capOf(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const r = rateSchema.safeParse(value);
  if (!r.success) throw new ValidationError('transfer request', [{ field: RATE_HEADER, message: 'must be a positive integer (bytes per second)' }]);
  return r.data;
}

/**
 * `GET /agent/v1/transfers/:transferId/files/:name`: streams one offered file
 * to the destination agent. The sha256 is computed over the bytes as they are
 * sent and follows them in a trailer — no second read of a large disk, and a
 * digest of exactly what went over the wire. A stream that broke off or a
 * file whose size changed gets no trailer, which the receiver treats as a
 * failed copy.
 */
export function registerTransferRoutes(app: FastifyInstance, offers: TransferOffers): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(`${TRANSFER_ROUTE_PREFIX}:transferId/files/:name`, { schema: { params } }, async (req, reply) => {
    const offer = offers.authorize(req.params.transferId, bearerToken(req));
    const cap = capOf(req.headers[RATE_HEADER]);
    const file = offers.fileOf(offer, req.params.name);
    // Large reads: a disk image is read whole, and fewer, bigger chunks cost less per byte on both ends.
    const source = createReadStream(file.path, { highWaterMark: CHUNK_BYTES });
    await once(source, 'open');
    const hash = createHash('sha256');
    let sent = 0;
    let whole = false;
    const tap = new Transform({
      highWaterMark: CHUNK_BYTES,
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        sent += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        whole = sent === file.sizeBytes;
        cb();
      },
    });
    // Paced before the hash and the socket, so nothing ahead of the cap is ever queued for the wire.
    const stages = cap === undefined ? [source, tap] : [source, rateLimitStream(cap, { highWaterMark: CHUNK_BYTES }), tap];
    pipeline(stages, (err) => {
      if (err) req.log.warn({ err, transferId: offer.transferId, file: file.name }, 'transfer stream broke off');
    });
    reply.header('content-type', 'application/octet-stream').header(SIZE_HEADER, String(file.sizeBytes));
    reply.trailer(SHA256_TRAILER, async () => {
      if (!whole) throw new ShortSendError(file.name, sent, file.sizeBytes);
      return hash.digest('hex');
    });
    req.log.info({ transferId: offer.transferId, vmId: offer.vmId, file: file.name, bytes: file.sizeBytes }, 'transfer file sent');
    return reply.send(tap);
  });
}
