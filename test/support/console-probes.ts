import type { NuboClient } from '../../src/client/nubo-client.js';
import { pollUntil } from '../../src/util/deadline.js';

/**
 * The `PROBE <field> <field> …` lines a test guest prints on its serial
 * console (a loop in its user data: a checksum of a file on its disk, its
 * uptime or boot count …), oldest first, each as its fields; a last line
 * not yet ended by a newline is not one yet.
 */
export async function consoleProbes(api: NuboClient, vmId: string): Promise<string[][]> {
  const log = await api.vmConsole(vmId);
  // Only whole lines: the console may be read while the guest is half-way through writing one (a probe cut
  // after 18 of a checksum's 32 characters once failed the lease test).
  return [...log.matchAll(/^PROBE ([^\r\n]*)\r?\n/gm)].map((m) => m[1]!.split(' '));
}

/**
 * A probe printed after this call: two more than there are now, as the first
 * may have started before (and the console may hold older ones, from before a
 * suspend or a move).
 */
export async function freshConsoleProbe(api: NuboClient, vmId: string, timeoutMs = 60_000): Promise<string[]> {
  const n = (await consoleProbes(api, vmId)).length;
  return pollUntil('a fresh probe from the guest', async () => {
    const p = await consoleProbes(api, vmId);
    return p.length >= n + 2 ? p[p.length - 1] : undefined;
  }, { timeoutMs, intervalMs: 300 });
}

/** Creates a VM whose user data prints probes, and waits until it runs and has printed its first one; its id. */
export async function startProbingVm(api: NuboClient, body: { template: string; name: string; userData: string }): Promise<string> {
  const { id } = await api.createVm(body);
  await pollUntil(`VM ${body.name} running`, async () => {
    const v = await api.getVm(id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason}`);
    return v.state === 'running' ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 250 });
  await pollUntil('first probe', async () => ((await consoleProbes(api, id)).length > 0 ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
  return id;
}
