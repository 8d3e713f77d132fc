import { randomBytes } from 'node:crypto';
import { UnauthorizedError, sameSecret } from '../http/bearer-token.js';
import type { TransferFileName } from '../contract/agent-api.js';

/** One file an offer exposes: the name peers ask for, the path it is read from. */
export interface OfferedFile {
  readonly name: TransferFileName;
  readonly path: string;
  readonly sizeBytes: number;
}

export interface Offer {
  readonly transferId: string;
  readonly token: string;
  readonly vmId: string;
  readonly migrationId: string;
  readonly files: readonly OfferedFile[];
  readonly expiresAt: number;
}

/**
 * The source side of a cold migration's copy: which of this host's VM files
 * a peer may read, with which token, until when. The destination never gets
 * this host's own token (which would let it start, delete or migrate any VM
 * here): each offer has a token of its own that reads only its VM's listed
 * files, and dies with the offer — when it expires, when the controller
 * revokes it, or when the agent restarts (offers live in memory only; the
 * controller then aborts and starts over).
 */
export class TransferOffers {
  readonly #byId = new Map<string, Offer>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Opens an offer, or returns the open one of the same migration (the controller may retry). */
  open(vmId: string, migrationId: string, files: readonly OfferedFile[], ttlMs: number): Offer {
    this.#prune();
    for (const o of this.#byId.values()) {
      if (o.vmId !== vmId) continue;
      if (o.migrationId === migrationId) return o;
      // One migration per VM: an older migration's offer is over.
      this.#byId.delete(o.transferId);
    }
    const offer: Offer = Object.freeze({
      transferId: randomBytes(16).toString('hex'),
      token: randomBytes(32).toString('hex'),
      vmId,
      migrationId,
      files: Object.freeze([...files]),
      expiresAt: this.now() + ttlMs,
    });
    this.#byId.set(offer.transferId, offer);
    return offer;
  }

  /**
   * The offer a peer's request may read.
   * @throws UnauthorizedError — the same for an unknown, expired or revoked offer and a wrong token, so nothing leaks.
   */
  authorize(transferId: string, token: string): Offer {
    this.#prune();
    const o = this.#byId.get(transferId);
    if (!o || !sameSecret(token, o.token)) throw new UnauthorizedError('no such transfer, or a wrong or expired transfer token');
    return o;
  }

  /** @throws UnauthorizedError: the offer's token grants its own files only. */
  fileOf(offer: Offer, name: TransferFileName): OfferedFile {
    const f = offer.files.find((x) => x.name === name);
    if (!f) throw new UnauthorizedError(`transfer ${offer.transferId} does not offer ${name}`);
    return f;
  }

  /** Ends every offer of the VM (its files are about to change or go). */
  revoke(vmId: string): void {
    for (const o of [...this.#byId.values()]) if (o.vmId === vmId) this.#byId.delete(o.transferId);
  }

  /** Whether a peer may be reading the VM's files right now. */
  isOpen(vmId: string): boolean {
    this.#prune();
    return [...this.#byId.values()].some((o) => o.vmId === vmId);
  }

  #prune(): void {
    const now = this.now();
    for (const o of [...this.#byId.values()]) if (o.expiresAt <= now) this.#byId.delete(o.transferId);
  }
}
