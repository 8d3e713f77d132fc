import { pollUntil } from '../../src/util/deadline.js';
import type { NuboClient } from '../../src/client/nubo-client.js';
import type { VmDetailView } from '../../src/contract/vm-schemas.js';

/** Polls the API (every 20 ms, so a bench reads a state change late by at most that) until the VM is in `state`. */
export async function waitState(api: NuboClient, id: string, state: string, timeoutMs = 300_000, intervalMs = 20): Promise<VmDetailView> {
  return pollUntil(`VM ${id} ${state}`, async () => {
    const vm = await api.getVm(id);
    if (vm.state === 'failed') throw new Error(`VM ${id} failed: ${vm.stateReason}`);
    return vm.state === state ? vm : undefined;
  }, { timeoutMs, intervalMs });
}

/** Polls the VM's console through the API until it shows `marker`. */
export async function waitConsole(api: NuboClient, id: string, marker: string, timeoutMs = 180_000): Promise<void> {
  await pollUntil(`${id}: ${marker}`, async () => ((await api.vmConsole(id)).includes(marker) ? true : undefined), { timeoutMs, intervalMs: 500 });
}
