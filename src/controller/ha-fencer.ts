import type { Host } from '../store/repositories/hosts-repository.js';
import type { HostFencing } from '../store/repositories/ha-repository.js';
import { runCommand } from '../util/run-command.js';
import { FenceError } from './fence-error.js';

/** The lab's fence (src/lab/lab-fence.ts), handed in by the composition root: the controller does not import the lab. */
export type LabFence = (labDir: string, hostName: string, signal?: AbortSignal) => Promise<unknown>;

/**
 * Runs a host's fence method once; resolves when the host is fenced, throws
 * FenceError otherwise (a non-zero exit, a timeout, no method). `command`
 * runs the operator's hook (IPMI, Redfish …) with the host in its
 * environment — NUBO_HOST_NAME, NUBO_HOST_ID, NUBO_HOST_ADDRESS (the agent
 * URL's host) — and exit 0 means fenced. Every method has its timeout.
 */
export async function runFence(host: Host, f: HostFencing, labFence: LabFence | undefined, signal?: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(f.timeoutMs);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    if (f.method === 'command') {
      const [file, ...args] = f.argv;
      if (file === undefined) throw new FenceError(host.name, 'the command fence has no program');
      const env = { ...process.env, NUBO_HOST_NAME: host.name, NUBO_HOST_ID: host.id, NUBO_HOST_ADDRESS: new URL(host.agentUrl).hostname };
      await runCommand(file, args, { env, timeoutMs: f.timeoutMs, signal: both });
    } else if (f.method === 'lab') {
      if (!labFence || f.labDir === null) throw new FenceError(host.name, 'this controller has no lab fence (start it with `nubo controller` or `nubo lab up`)');
      await Promise.race([labFence(f.labDir, host.name, both), new Promise((_, reject) => {
        both.addEventListener('abort', () => reject(new FenceError(host.name, `the lab fence took longer than ${f.timeoutMs} ms`)), { once: true });
      })]);
    } else {
      throw new FenceError(host.name, 'the host has no fence method (`none`)');
    }
  } catch (err) {
    if (err instanceof FenceError) throw err;
    throw new FenceError(host.name, err instanceof Error ? err.message : String(err), { cause: err });
  }
}
