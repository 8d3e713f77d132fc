import { NuboError } from './nubo-error.js';

/**
 * A controller that does not (or no longer) hold the leadership lease was
 * about to act: orchestrate, call an agent, or forward a request to a leader
 * that is not known. `leaderUrl` is the leader's, when one is known.
 */
export class NotLeaderError extends NuboError {
  readonly code = 'NOT_LEADER';
  constructor(readonly reason: string, readonly leaderUrl?: string | undefined) {
    super(`this controller is not the leader: ${reason}`, { reason, ...(leaderUrl !== undefined ? { leaderUrl } : {}) });
  }
}
