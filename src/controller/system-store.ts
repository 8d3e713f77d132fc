import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TransferFileName, TransferOffer } from '../contract/agent-api.js';
import { fetchFile } from '../transfer/fetch-file.js';
import { TransferOffers, type Offer } from '../transfer/transfer-offers.js';
import { SystemStoreCopyError } from './system-store-copy-error.js';

/** What a stopped VM left in the system store: its files as they arrived, verified. */
export interface SystemCopy {
  readonly vmId: string;
  /** The host the files came from. */
  readonly fromHostId: string;
  readonly savedAt: string;
  readonly files: readonly { readonly name: TransferFileName; readonly sizeBytes: number; readonly sha256: string }[];
}

/** The manifest is written last: a VM directory without one is a partial copy. */
const MANIFEST = 'manifest.json';

/**
 * The controller's system store (OpenNebula's system datastore on the
 * front-end): where a stopped VM's disk overlay, config drive and saved
 * memory wait, off every host, until `resume` places it again. Files arrive
 * pulled from the host's agent with the same transfer protocol as a cold
 * migration (an offer of its own, size and sha256 checked against the
 * sender's), and leave the same way: this store opens an offer and the new
 * host's agent pulls from the controller's transfer route. A copy counts only
 * once its manifest is written, so a crash mid-copy leaves nothing that could
 * be taken for the VM.
 */
export class SystemStore {
  /** Offers of stopped VMs' files to the agents resuming them (in memory: a restarted controller opens a new one). */
  readonly offers = new TransferOffers();

  constructor(readonly dir: string) {}

  dirOf(vmId: string): string {
    return join(this.dir, vmId);
  }

  /** The VM's complete copy, if the store holds one. */
  async copyOf(vmId: string): Promise<SystemCopy | undefined> {
    const text = await readFile(join(this.dirOf(vmId), MANIFEST), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as SystemCopy);
  }

  /**
   * Pulls every file of the agent's offer into the VM's directory (anything
   * there before is replaced), verified, then writes the manifest.
   * On failure the directory is removed.
   */
  async save(vmId: string, from: { hostId: string; agentUrl: string; offer: TransferOffer }, signal: AbortSignal): Promise<SystemCopy> {
    const dir = this.dirOf(vmId);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    try {
      const files: { name: TransferFileName; sizeBytes: number; sha256: string }[] = [];
      for (const f of from.offer.files) {
        const part = join(dir, `.${f.name}.part`);
        const { sha256 } = await fetchFile({
          url: `${from.agentUrl.replace(/\/$/, '')}/agent/v1/transfers/${from.offer.transferId}/files/${f.name}`,
          token: from.offer.token,
          dest: part,
          sizeBytes: f.sizeBytes,
          signal,
        });
        await rename(part, join(dir, f.name));
        files.push({ name: f.name, sizeBytes: f.sizeBytes, sha256 });
      }
      const copy: SystemCopy = { vmId, fromHostId: from.hostId, savedAt: new Date().toISOString(), files };
      const tmp = join(dir, `.${MANIFEST}.part`);
      await writeFile(tmp, JSON.stringify(copy));
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(dir, MANIFEST));
      return copy;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Opens (or returns the open) offer of the VM's copy to the agent of the host it resumes on. */
  async offer(copy: SystemCopy, operationId: string, ttlMs: number): Promise<Offer> {
    const files = await Promise.all(copy.files.map(async (f) => {
      const path = join(this.dirOf(copy.vmId), f.name);
      const size = (await stat(path)).size;
      if (size !== f.sizeBytes) throw new SystemStoreCopyError(copy.vmId, `the system store's ${f.name} of VM ${copy.vmId} has ${size} bytes, its manifest says ${f.sizeBytes}`);
      return { name: f.name, path, sizeBytes: f.sizeBytes };
    }));
    return this.offers.open(copy.vmId, operationId, files, ttlMs);
  }

  /** Deletes the VM's copy (it is on a host again, or the VM is gone). Idempotent. */
  async remove(vmId: string): Promise<void> {
    this.offers.revoke(vmId);
    await rm(this.dirOf(vmId), { recursive: true, force: true });
  }
}
