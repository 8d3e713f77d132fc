import { NuboError } from '../errors/nubo-error.js';

/**
 * An action or event that the VM's current state does not allow. The API maps
 * it to HTTP 409; the message names the current state so that a client which
 * raced another request can see what it raced against.
 */
export class InvalidStateError extends NuboError {
  readonly code = 'INVALID_STATE';
  readonly allowed: readonly string[];

  /**
   * @param action the action (or event type) that was refused
   * @param state  the VM's current state
   * @param allowed the states the action is allowed from (empty: from none)
   * @param verb   how the message phrases the attempt; defaults to the action
   *               itself ("cannot suspend VM …"), events pass "apply host-back to"
   */
  constructor(
    readonly action: string,
    readonly state: string,
    allowed: readonly string[],
    verb: string = action,
  ) {
    const list = allowed.length > 0 ? allowed.join(', ') : 'none';
    super(`cannot ${verb} VM in state ${state} (allowed from: ${list})`, { action, state, allowed: [...allowed] });
    this.allowed = Object.freeze([...allowed]);
  }
}
