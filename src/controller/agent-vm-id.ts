/** The agent's id for a VM: store ids are UUIDs, which may start with a digit. */
export function agentVmId(vmId: string): string {
  return `v${vmId.replace(/-/g, '')}`;
}
