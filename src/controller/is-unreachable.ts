import { RemoteError, UnreachableError } from '../client/remote-error.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';

/**
 * No answer from the agent: it may be restarting (`nubo up` killed and
 * started again) or behind a proxy that has no backend yet. Only an answer
 * from the agent itself says whether a step failed.
 */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof UnreachableError) return true;
  // A remote cloud's endpoint (bursting) that gave no verdict is retried the same way.
  if (err instanceof CloudUnreachableError) return true;
  // A 502/503/504 without nubo's error body came from something in between; with one (IMAGE_FETCH_FAILED,
  // HYPERVISOR_FAILED, TIMEOUT …) it is the agent's own verdict on the step.
  return err instanceof RemoteError && [502, 503, 504].includes(err.status) && (err.code.startsWith('HTTP_') || err.code === 'AGENT_UNREACHABLE');
}
