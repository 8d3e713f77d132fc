import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Logger } from 'pino';
import { FakeFleet } from '../../src/agent/fake-fleet.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import { freePort, startControllerProcess, type ControllerProcess, type ControllerProcessOptions } from './controller-process.js';

/** A controller process over a fake fleet, for tests that kill and restart the controller. */
export interface FleetCrashSite {
  readonly root: string;
  /** What every start of the controller is given: one URL for every run, as the agents know only that one. */
  readonly base: ControllerProcessOptions;
  readonly adminToken: string;
  readonly api: NuboClient;
  readonly fleet: FakeFleet;
  /** The controller running now (undefined while a test has it down); stopped at the test's end. */
  ctl: ControllerProcess | undefined;
}

/**
 * Agents beat every second; the controller expects one every 10 s, so a host
 * is silent after 30 s (generous on a loaded machine). Everything is removed
 * when the test ends: the controller running then, the fleet, the directory.
 */
export async function startFleetCrashSite(t: TestContext, o: { readonly prefix: string; readonly hosts: number; readonly logger: Logger }): Promise<FleetCrashSite> {
  const root = await mkdtemp(join(tmpdir(), o.prefix));
  const ends: (() => Promise<unknown>)[] = [() => rm(root, { recursive: true, force: true })];
  t.after(async () => {
    for (const end of ends.reverse()) await end();
  });
  const base: ControllerProcessOptions = { cli: join(import.meta.dirname, '../../src/cli/nubo.js'), dataDir: join(root, 'controller'), home: join(root, 'home'), heartbeatMs: 10_000, port: await freePort() };
  const ctl = await startControllerProcess(base);
  // The one object the test changes `ctl` on, so that the end stops whichever controller runs then.
  const holder: { ctl: ControllerProcess | undefined } = { ctl };
  ends.push(() => holder.ctl?.stop() ?? Promise.resolve());
  const fleet = await FakeFleet.start({ hosts: o.hosts, rootDir: join(root, 'fleet'), capacity: { cpus: 4, memoryMiB: 8_192, diskMiB: 1_000_000 }, controllerUrl: ctl.url, heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 30_000, logger: o.logger });
  ends.push(() => fleet.close());
  return Object.assign(holder, { root, base, adminToken: ctl.adminToken, api: new NuboClient(ctl.url, ctl.adminToken), fleet });
}
