import type { QmpClient } from './qmp-client.js';
import { QmpError } from './qmp-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { listenOnSomePort } from './listen-on-some-port.js';

export interface NbdExportOptions extends WaitOptions {
  readonly host: string;
  readonly port?: number | undefined;
  /** Id of a server-endpoint tls-creds object: clients must then speak TLS with a certificate of the same CA. */
  readonly tlsCreds?: string | undefined;
}

/**
 * Destination side of non-shared storage migration: an NBD server on the
 * migration address exporting each disk's format node writable, under the
 * disk id as export name. The node is the one the guest device will use, so
 * what the source mirrors in is what the VM sees once it runs. Returns the
 * port. QEMU 7.2 has no query for the NBD server's address, hence no port 0.
 */
export async function startNbdExports(qmp: QmpClient, diskIds: readonly string[], opts: NbdExportOptions): Promise<number> {
  const o = { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 5_000 };
  const port = await listenOnSomePort(opts.port, (p) =>
    qmp
      .execute('nbd-server-start', {
        addr: { type: 'inet', data: { host: opts.host, port: String(p) } },
        ...(opts.tlsCreds !== undefined ? { 'tls-creds': opts.tlsCreds } : {}),
      }, o)
      .then(() => {}),
  );
  for (const id of diskIds) {
    await qmp.execute('block-export-add', { type: 'nbd', id: `exp-${id}`, 'node-name': `d-${id}`, name: id, writable: true }, o);
  }
  return port;
}

/** Stops the NBD server (its exports go with it); one that is not running is fine. */
export async function stopNbdServer(qmp: QmpClient, opts: WaitOptions): Promise<void> {
  try {
    await qmp.execute('nbd-server-stop', undefined, opts);
  } catch (err) {
    if (!(err instanceof QmpError && /not running/i.test(err.desc))) throw err;
  }
}
