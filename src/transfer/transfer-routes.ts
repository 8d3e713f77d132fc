import { open } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../errors/validation-error.js';
import { bearerToken } from '../http/bearer-token.js';
import { FileSendStream } from './file-send-stream.js';
import { ShortSendError } from './short-send-error.js';
import { transferFileNameSchema } from '../contract/agent-api.js';
import { bootId, localSourceOf } from './local-source.js';
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
 * to the destination agent (or, from the controller's system store, to the
 * agent resuming a stopped VM). The sha256 is computed over the bytes as they
 * are read for sending and follows them in a trailer — no second read of a large disk, and a
 * digest of exactly what went over the wire. A stream that broke off or a
 * file whose size changed gets no trailer, which the receiver treats as a
 * failed copy.
 */
export function registerTransferRoutes(app: FastifyInstance, offers: TransferOffers): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Where the file lies on this machine, for a peer on the same one (copyLocalFile): the offer's token, like the bytes themselves.
  r.get(`${TRANSFER_ROUTE_PREFIX}:transferId/files/:name/local`, { schema: { params } }, async (req, reply) => {
    const offer = offers.authorize(req.params.transferId, bearerToken(req));
    const file = offers.fileOf(offer, req.params.name);
    const local = await localSourceOf(file.path, await bootId());
    // A kernel without a boot id: no peer can prove it shares this machine, so every copy takes the network.
    if (local === undefined) return reply.status(404).send({ error: { code: 'NOT_FOUND', message: 'this host cannot tell its boot id', details: {} } });
    return local;
  });
  r.get(`${TRANSFER_ROUTE_PREFIX}:transferId/files/:name`, { schema: { params } }, async (req, reply) => {
    const offer = offers.authorize(req.params.transferId, bearerToken(req));
    const cap = capOf(req.headers[RATE_HEADER]);
    const file = offers.fileOf(offer, req.params.name);
    // Opened before the answer starts: a file that cannot be read is an error status, not a broken stream.
    const source = new FileSendStream(await open(file.path, 'r'), { sizeBytes: file.sizeBytes, maxBytesPerSecond: cap });
    source.on('error', (err) => req.log.warn({ err, transferId: offer.transferId, file: file.name }, 'transfer stream broke off'));
    reply.header('content-type', 'application/octet-stream').header(SIZE_HEADER, String(file.sizeBytes));
    reply.trailer(SHA256_TRAILER, async () => {
      const digest = await source.digest();
      if (digest === undefined) throw new ShortSendError(file.name, source.sentBytes, file.sizeBytes);
      return digest;
    });
    req.log.info({ transferId: offer.transferId, vmId: offer.vmId, file: file.name, bytes: file.sizeBytes }, 'transfer file sent');
    return reply.send(source);
  });
}
