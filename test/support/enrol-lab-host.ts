import { NuboClient } from '../../src/client/nubo-client.js';
import { labUp } from '../../src/lab/lab.js';
import { FABRIC_ADDRESS } from '../../src/lab/lab-state.js';
import { pollUntil } from '../../src/util/deadline.js';
import type { DaemonProcess } from './daemon-process.js';

/**
 * A one-host lab behind a controller that is a process of the test's own
 * (so that the test can SIGKILL it), listening on the fabric at `port`: waits
 * for the controller's first admin token and its listener, brings up the lab's
 * host enrolled with it, and answers once the host is enabled. The fabric is
 * the caller's to bring up first (and to take down: teardown stays with it).
 */
export async function enrolLabHost(o: { readonly prefix: string; readonly dir: string; readonly port: number; readonly controller: DaemonProcess }): Promise<NuboClient> {
  const token = await o.controller.waitFor(/its token \(shown once\): (\S+)/, 60_000);
  await o.controller.waitFor(/controller listening/, 60_000);
  const url = `http://${FABRIC_ADDRESS}:${o.port}`;
  await labUp({ prefix: o.prefix, dir: o.dir, hosts: 1, controller: { url, token }, heartbeatMs: 500 });
  const api = new NuboClient(url, token);
  await pollUntil('host enabled', async () => ((await api.listHosts()).some((h) => h.state === 'enabled') ? true : undefined), { timeoutMs: 60_000 });
  return api;
}
