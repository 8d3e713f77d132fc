import { createHash } from 'node:crypto';
import { sameSecret } from '../http/bearer-token.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

/** The slice of the hosts repository the index reads. */
export interface HostTokenSource {
  list(): Promise<Host[]>;
  get(id: string): Promise<Host>;
}

const digestOf = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Finds the host an agent token belongs to without reading every host: a
 * fleet of a thousand hosts beating every few seconds made the old scan (all
 * hosts read, each token compared) the controller's main heartbeat cost. The
 * index maps a digest of each token to its host id; a hit is confirmed
 * against the host as stored now (a deleted host or a changed token falls
 * through), a miss reloads the index once (a host registered since).
 */
export class HostTokenIndex {
  #byDigest = new Map<string, string>();

  constructor(private readonly hosts: HostTokenSource) {}

  async find(token: string): Promise<Host | undefined> {
    const digest = digestOf(token);
    const id = this.#byDigest.get(digest);
    if (id !== undefined) {
      const host = await findOrUndefined(this.hosts.get(id));
      if (host && sameSecret(host.agentToken, token)) return host;
    }
    const all = await this.hosts.list();
    this.#byDigest = new Map();
    // The first host with a token wins, as the scan this replaces found it.
    for (const h of all) if (!this.#byDigest.has(digestOf(h.agentToken))) this.#byDigest.set(digestOf(h.agentToken), h.id);
    return all.find((h) => sameSecret(h.agentToken, token));
  }
}
