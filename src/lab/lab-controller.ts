import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLabProcess, logSize, NUBO_CLI, spawnDetached, waitForLog } from './lab-process.js';
import { FABRIC_ADDRESS, writeLabState, type LabState } from './lab-state.js';
import { LabError } from './lab-error.js';

export interface LabCredentials {
  readonly url: string;
  readonly token: string;
}

/** The ports of the lab controller's EC2 and S3 listeners on the fabric address (none when absent). */
export interface LabControllerApis {
  readonly ec2Port?: number | undefined;
  readonly s3Port?: number | undefined;
}

/**
 * `nubo controller`'s arguments for the lab's own controller: the API on the
 * fabric address and, as `nubo up` has them, the EC2 and S3 listeners beside
 * it, so the README's `aws --endpoint-url http://198.18.0.1:7490 …` reaches
 * the lab's cloud (its zones are the lab's clusters).
 */
export function labControllerArgs(port: number, dataDir: string, heartbeatMs: number, apis: LabControllerApis = {}): string[] {
  return [
    'controller', '--listen', `${FABRIC_ADDRESS}:${port}`, '--data-dir', dataDir, '--heartbeat-ms', String(heartbeatMs),
    ...(apis.ec2Port !== undefined ? ['--ec2-listen', `${FABRIC_ADDRESS}:${apis.ec2Port}`] : []),
    ...(apis.s3Port !== undefined ? ['--s3-listen', `${FABRIC_ADDRESS}:${apis.s3Port}`] : []),
  ];
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
export async function ensureLabController(state: LabState, port: number, heartbeatMs: number, signal?: AbortSignal, apis: LabControllerApis = {}): Promise<LabCredentials> {
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
  const p = spawnDetached(process.execPath, [NUBO_CLI, ...labControllerArgs(port, dataDir, heartbeatMs, apis)], logFile, dataDir);
  state.controller = p;
  state.controllerUrl = url;
  state.controllerEc2Url = apis.ec2Port !== undefined ? `http://${FABRIC_ADDRESS}:${apis.ec2Port}` : undefined;
  state.controllerS3Url = apis.s3Port !== undefined ? `http://${FABRIC_ADDRESS}:${apis.s3Port}` : undefined;
  await writeLabState(state);
  await waitForLog(p, /controller listening/, from, 60_000, signal);
  // The first start creates the admin and prints its token once; later starts reuse the stored one.
  const token = stored?.token ?? (await waitForLog(p, /its token \(shown once\): (\S+)/, from, 10_000, signal));
  const creds = { url, token };
  await writeFile(credsFile, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}
