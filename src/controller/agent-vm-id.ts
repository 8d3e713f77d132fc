/** The agent's id for a VM: store ids are UUIDs, which may start with a digit. */
export function agentVmId(vmId: string): string {
  return `v${vmId.replace(/-/g, '')}`;
}

/** The store id of an agent's VM id (`agentVmId` backwards), or undefined for ids nubo did not make. */
export function vmIdOfAgentId(agentId: string): string | undefined {
  const m = /^v([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/.exec(agentId);
  return m ? m.slice(1).join('-') : undefined;
}
