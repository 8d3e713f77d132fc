import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLabProcess, logSize, NUBO_CLI, spawnDetached, waitForLog } from './lab-process.js';
import { FABRIC_ADDRESS, writeLabState, type LabState } from './lab-state.js';
import { LabError } from './lab-error.js';

export interface LabCredentials {
  readonly url: string;
  readonly token: string;
}

/** Where a lab that runs its own controller keeps that controller's URL and admin token (0600). */
export function labCredentialsFile(dir: string): string {
  return join(dir, 'credentials.json');
}

/**
 * The lab's own controller: `nubo controller --listen 198.18.0.1:<port>`,
 * detached, recorded in the state before anything waits on it. A controller
 * the lab started before and that still runs is reused.
 */
export async function ensureLabController(state: LabState, port: number, heartbeatMs: number, signal?: AbortSignal): Promise<LabCredentials> {
  const url = `http://${FABRIC_ADDRESS}:${port}`;
  const credsFile = labCredentialsFile(state.dir);
  const stored = await readFile(credsFile, 'utf8').then((t) => JSON.parse(t) as LabCredentials, () => undefined);
  if (state.controller && (await isLabProcess(state.controller))) {
    if (state.controllerUrl !== url) throw new LabError(`the lab's controller already runs at ${state.controllerUrl}; \`nubo lab down\` first to move it`);
    if (!stored) throw new LabError(`the lab's controller runs but ${credsFile} is missing`);
    return stored;
  }
  const dataDir = join(state.dir, 'controller');
  const logFile = join(state.dir, 'controller.log');
  const from = await logSize(logFile);
  const p = spawnDetached(process.execPath, [NUBO_CLI, 'controller', '--listen', `${FABRIC_ADDRESS}:${port}`, '--data-dir', dataDir, '--heartbeat-ms', String(heartbeatMs)], logFile, dataDir);
  state.controller = p;
  state.controllerUrl = url;
  await writeLabState(state);
  await waitForLog(p, /controller listening/, from, 60_000, signal);
  // The first start creates the admin and prints its token once; later starts reuse the stored one.
  const token = stored?.token ?? (await waitForLog(p, /its token \(shown once\): (\S+)/, from, 10_000, signal));
  const creds = { url, token };
  await writeFile(credsFile, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}
