import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { SigV4Options } from '../aws/sigv4/verify-sigv4.js';
import type { Store } from '../store/open-store.js';
import type { Failpoints } from '../util/failpoints.js';
import { S3BlobStore } from './s3-blob-store.js';
import { createS3Server } from './s3-server.js';

export interface S3ListenerOptions {
  readonly host: string;
  /** 7491 by default in the CLI; 0 picks a free port. */
  readonly port: number;
  /** Virtual-host style buckets: `BUCKET.DOMAIN`; default `localhost`. */
  readonly domain?: string | undefined;
}

/** The region nubo's AWS-compatible listeners sign for. */
export const NUBO_REGION = 'nubo-1';

/** The S3 listener of a controller: its blob directory swept of what the store does not refer to, then serving. */
export class S3Listener {
  private constructor(readonly url: string, private readonly server: Server) {}

  static async start(o: S3ListenerOptions & { dir: string; store: Store; lookupSecret: SigV4Options['lookupSecret']; logger: Logger; failpoints?: Failpoints | undefined }): Promise<S3Listener> {
    const blobs = new S3BlobStore(o.dir);
    await blobs.init();
    // Before serving: what a crash left (temp files, blobs written but never committed, parts of completed uploads) goes.
    const swept = await blobs.sweep(await o.store.s3.referencedBlobs());
    if (swept > 0) o.logger.info({ swept }, 's3: removed unreferenced blobs left by an interrupted operation');
    const server = createS3Server({ store: o.store, blobs, logger: o.logger, failpoints: o.failpoints, maxObjectBytes: 5 * 1024 ** 3 }, { region: NUBO_REGION, domain: o.domain ?? 'localhost', lookupSecret: o.lookupSecret });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    return new S3Listener(`http://${host}:${(server.address() as AddressInfo).port}`, server);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
