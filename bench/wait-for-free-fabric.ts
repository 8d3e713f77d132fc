/**
 * Every lab puts the fabric address 198.18.0.1/16 on its own bridge in the
 * root namespace. Two labs at once (another engineer's e2e run, say) give the
 * root namespace two routes to 198.18.0.0/16, and the agents' heartbeats are
 * answered into the wrong lab. So the benchmark waits until no other
 * interface holds the address.
 */
import { FABRIC_ADDRESS } from '../src/lab/lab-state.js';
import { runCommand } from '../src/util/run-command.js';
import { pollUntil } from '../src/util/deadline.js';

/** The interfaces in the root namespace that hold the fabric address. */
export async function fabricHolders(): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['-j', '-4', 'addr', 'show'], { timeoutMs: 10_000 });
  const links = JSON.parse(stdout || '[]') as { ifname: string; addr_info?: { local?: string }[] }[];
  return links.filter((l) => (l.addr_info ?? []).some((a) => a.local === FABRIC_ADDRESS)).map((l) => l.ifname);
}

/** Resolves once no interface holds the fabric address; says once what it waits for. */
export async function waitForFreeFabric(opts: { signal: AbortSignal; timeoutMs: number; say: (line: string) => void }): Promise<void> {
  let said = false;
  await pollUntil('the fabric address to be free (another lab is up)', async () => {
    const h = await fabricHolders();
    if (h.length === 0) return true;
    if (!said) opts.say(`another lab holds ${FABRIC_ADDRESS} (${h.join(', ')}): waiting up to ${Math.round(opts.timeoutMs / 1000)} s for it to go`);
    said = true;
    return undefined;
  }, { signal: opts.signal, timeoutMs: opts.timeoutMs, intervalMs: 5_000 });
}
