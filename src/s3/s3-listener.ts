import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { SigV4Options } from '../aws/sigv4/verify-sigv4.js';
import type { Store } from '../store/open-store.js';
import type { Failpoints } from '../util/failpoints.js';
import type { S3BlobStore } from './s3-blob-store.js';
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

/** The S3 listener of a controller, serving the controller's blob directory. */
export class S3Listener {
  private constructor(readonly url: string, private readonly server: Server) {}

  /**
   * @param o.blobs the controller's blob directory, swept by it before
   * anything served (temp files, blobs written but never committed, parts of
   * completed uploads): images are objects of it too, so it is there whether
   * or not this listener is.
   */
  static async start(o: S3ListenerOptions & { blobs: S3BlobStore; store: Store; lookupSecret: SigV4Options['lookupSecret']; logger: Logger; failpoints?: Failpoints | undefined }): Promise<S3Listener> {
    const server = createS3Server({ store: o.store, blobs: o.blobs, logger: o.logger, failpoints: o.failpoints, maxObjectBytes: 5 * 1024 ** 3 }, { region: NUBO_REGION, domain: o.domain ?? 'localhost', lookupSecret: o.lookupSecret });
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
