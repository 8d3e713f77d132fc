import { createHash } from 'node:crypto';
import { sameSecret } from '../http/bearer-token.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

/** The slice of the hosts repository the index reads. */
export interface HostTokenSource {
  list(): Promise<Host[]>;
  get(id: string): Promise<Host>;
}

/** A host as the index last read it: enough to know who a beat says it is, before the store is asked. */
export interface IndexedHost {
  readonly id: string;
  readonly name: string;
}

const digestOf = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Finds the hosts an agent token belongs to without reading every host: a
 * fleet of a thousand hosts beating every few seconds made the old scan (all
 * hosts read, each token compared) the controller's main heartbeat cost. The
 * index maps a digest of each token to its hosts (operators may give
 * several hosts one token); a hit is confirmed against the hosts as stored now
 * (a deleted host or a changed token falls through), a miss reloads the index
 * once (a host registered since).
 */
export class HostTokenIndex {
  #byDigest = new Map<string, IndexedHost[]>();

  constructor(private readonly hosts: HostTokenSource) {}

  /**
   * The hosts the index had under this token when it was last read, from
   * memory (no store read; undefined when the token is not indexed). Not a
   * proof: `find` confirms against the store.
   */
  indexed(token: string): readonly IndexedHost[] | undefined {
    return this.#byDigest.get(digestOf(token));
  }

  /** `reload`: read every host even on a hit — a host registered since with a token already indexed is not in the entry. */
  async find(token: string, reload = false): Promise<Host[]> {
    const digest = digestOf(token);
    const entry = this.#byDigest.get(digest);
    if (entry !== undefined && !reload) {
      const found = (await Promise.all(entry.map((h) => findOrUndefined(this.hosts.get(h.id))))).filter((h): h is Host => h !== undefined && sameSecret(h.agentToken, token));
      if (found.length === entry.length) {
        // Names as stored now (a host may have been renamed): who a beat says it is is matched against them.
        this.#byDigest.set(digest, found.map((h) => ({ id: h.id, name: h.name })));
        return found;
      }
    }
    const all = await this.hosts.list();
    this.#byDigest = new Map();
    for (const h of all) {
      const d = digestOf(h.agentToken);
      this.#byDigest.set(d, [...(this.#byDigest.get(d) ?? []), { id: h.id, name: h.name }]);
    }
    return all.filter((h) => sameSecret(h.agentToken, token));
  }
}
