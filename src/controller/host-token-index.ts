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
 * Finds the hosts an agent token belongs to without reading every host: a
 * fleet of a thousand hosts beating every few seconds made the old scan (all
 * hosts read, each token compared) the controller's main heartbeat cost. The
 * index maps a digest of each token to its host ids (operators may give
 * several hosts one token); a hit is confirmed against the hosts as stored now
 * (a deleted host or a changed token falls through), a miss reloads the index
 * once (a host registered since).
 */
export class HostTokenIndex {
  #byDigest = new Map<string, string[]>();

  constructor(private readonly hosts: HostTokenSource) {}

  /** `reload`: read every host even on a hit — a host registered since with a token already indexed is not in the entry. */
  async find(token: string, reload = false): Promise<Host[]> {
    const digest = digestOf(token);
    const ids = this.#byDigest.get(digest);
    if (ids !== undefined && !reload) {
      const found = (await Promise.all(ids.map((id) => findOrUndefined(this.hosts.get(id))))).filter((h): h is Host => h !== undefined && sameSecret(h.agentToken, token));
      if (found.length === ids.length) return found;
    }
    const all = await this.hosts.list();
    this.#byDigest = new Map();
    for (const h of all) {
      const d = digestOf(h.agentToken);
      this.#byDigest.set(d, [...(this.#byDigest.get(d) ?? []), h.id]);
    }
    return all.filter((h) => sameSecret(h.agentToken, token));
  }
}
