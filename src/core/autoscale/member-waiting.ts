/** A member's VM as the group's history sees it. */
export interface WaitingMemberInput {
  readonly vmName: string;
  readonly vmState: string;
  /** Why the VM is where it is (placement's summary while it waits for room). */
  readonly stateReason: string | null;
}

/**
 * The history line for a member whose VM waits to be placed, or undefined
 * when it does not wait. A group may decide more members than its hosts can
 * take; the extra VMs stay `pending` until room frees up, and without this
 * line the group would show a member that never runs with no word why.
 */
export function memberWaiting(m: WaitingMemberInput): string | undefined {
  if (m.vmState !== 'pending' || m.stateReason === null || m.stateReason === '') return undefined;
  return `${m.vmName} waits for a host: ${m.stateReason}`;
}
