import { runCommand } from '../util/run-command.js';
import { killQemusIn } from './lab-process.js';
import { readLabState } from './lab-state.js';
import { LabError } from './lab-error.js';

/**
 * The lab's fence method (what IPMI power-off is to a real host): cuts the
 * host's uplink to the fabric, so that nothing of it reaches the other hosts
 * or the controller, and kills the QEMUs its agent started — found by the
 * pid files in its run directory and checked to be that VM's QEMU before the
 * signal. Idempotent: a cut link stays cut, a dead QEMU is not found again.
 * `nubo lab up` brings the uplink back (the host "powered on").
 */
export async function labFence(labDir: string, hostName: string, signal?: AbortSignal): Promise<{ killed: number[] }> {
  const state = await readLabState(labDir);
  const h = state?.hosts.find((x) => x.name === hostName);
  if (!h) throw new LabError(`the lab in ${labDir} has no host ${hostName}`);
  await runCommand('ip', ['link', 'set', 'dev', h.vethRoot, 'down'], { timeoutMs: 10_000, signal });
  return { killed: await killQemusIn(h.runDir) };
}
