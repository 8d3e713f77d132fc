import type { QmpClient } from './qmp-client.js';
import type { WaitOptions } from '../../util/deadline.js';

/** The destination's credentials (server end of the stream and of NBD). */
export const TLS_IN_ID = 'mig-tls-in';
/** The source's credentials (client end of the stream and of the NBD mirrors). */
export const TLS_OUT_ID = 'mig-tls-out';

/**
 * Makes sure the VM's QEMU holds a `tls-creds-x509` object `id` reading
 * `dir`. One that exists with the same directory is kept (mirrors and the
 * stream share it); one with another directory is replaced, so that a VM
 * that migrates again after a certificate rotation uses the new files.
 * `verify-peer` is on at both ends: the server insists on a client
 * certificate from the same CA, the client checks the server's against the
 * address it connects to.
 */
export async function ensureTlsCreds(qmp: QmpClient, id: string, dir: string, endpoint: 'server' | 'client', opts: WaitOptions): Promise<void> {
  const objects = await qmp.execute('qom-list', { path: '/objects' }, opts);
  if (objects.some((o) => o.name === id)) {
    const [haveDir, haveEndpoint] = await Promise.all([
      qmp.execute('qom-get', { path: `/objects/${id}`, property: 'dir' }, opts),
      qmp.execute('qom-get', { path: `/objects/${id}`, property: 'endpoint' }, opts),
    ]);
    if (haveDir === dir && haveEndpoint === endpoint) return;
    await qmp.execute('object-del', { id }, opts);
  }
  await qmp.execute('object-add', { 'qom-type': 'tls-creds-x509', id, dir, endpoint, 'verify-peer': true }, opts);
}

/** Removes the object if it is there; one still in use (an open NBD connection) stays, which only costs memory. */
export async function dropTlsCreds(qmp: QmpClient, id: string, opts: WaitOptions): Promise<void> {
  const objects = await qmp.execute('qom-list', { path: '/objects' }, opts);
  if (!objects.some((o) => o.name === id)) return;
  await qmp.execute('object-del', { id }, opts).catch(() => {});
}
