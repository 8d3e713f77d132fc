import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NuboClient } from '../../client/nubo-client.js';
import { labDown, labFabricUp, labStatus, labUp } from '../../lab/lab.js';
import { labCredentialsFile, type LabCredentials } from '../../lab/lab-controller.js';
import { checkPrefix, FABRIC_ADDRESS, MAX_LAB_HOSTS } from '../../lab/lab-state.js';
import { nuboHome } from '../../util/nubo-home.js';
import { intArg } from '../api-command.js';
import { resolveCredentials } from '../credentials.js';
import { dash, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { EXIT } from '../exit-codes.js';
import { ensureLabCatalog, LAB_NETWORK } from '../../lab/lab-catalog.js';
import { buildTinyImage } from '../../storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../../util/nubo-home.js';

interface LabFlags { prefix: string; dir?: string; url?: string; token?: string; json?: boolean }
interface UpFlags extends LabFlags { hosts?: number; clusters: number; fabricOnly?: boolean; startController?: boolean; controllerPort: number; ec2Port: number; s3Port: number; heartbeatMs: number; migrationTls: boolean }

const labDir = (o: LabFlags): string => o.dir ?? join(nuboHome(), 'lab', checkPrefix(o.prefix));

function common(c: Command): Command {
  return c
    .option('--prefix <prefix>', 'names: <prefix>-fab, <prefix>-h1…, <prefix>-v1… (1–10 lower-case letters/digits)', 'nubo')
    .option('--dir <dir>', 'lab state, host datastores, shared datastore, logs (default: $NUBO_HOME/lab/<prefix>)');
}

/** `nubo lab up|down|status`: N hosts as network namespaces on one bridge fabric, one agent each. */
export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description(`a multi-host lab on this machine: hosts as network namespaces on a bridge fabric (${FABRIC_ADDRESS}/16), one agent each`);

  common(lab.command('up'))
    .description('make (or complete) the lab: fabric bridge, N host namespaces, their agents, registered with the controller; idempotent')
    .option('--hosts <n>', 'number of hosts', intArg(1, MAX_LAB_HOSTS, 'hosts'))
    .option('--clusters <n>', 'put the hosts into this many clusters c1, c2, … in contiguous blocks (4 hosts, 2 clusters: h1-h2 in c1, h3-h4 in c2); 1: all in `default`', intArg(1, MAX_LAB_HOSTS, 'clusters'), 1)
    .option('--fabric-only', `make only the fabric bridge with ${FABRIC_ADDRESS}, for a controller to listen on (\`nubo up --listen ${FABRIC_ADDRESS}\`) before the hosts come`)
    .option('--start-controller', `start the lab's own controller on ${FABRIC_ADDRESS} (recorded; stopped by \`lab down\`) with the nubo-tiny images, the network \`lab\` (${LAB_NETWORK.cidr}) and the \`tiny\` template`)
    .option('--controller-port <port>', 'port of the controller --start-controller starts', intArg(1, 65535, 'port'), 7480)
    .option('--ec2-port <port>', `port of that controller's EC2 Query API on ${FABRIC_ADDRESS} (one zone per cluster); 0: none`, intArg(0, 65535, 'port'), 7490)
    .option('--s3-port <port>', `port of that controller's S3 API on ${FABRIC_ADDRESS}; 0: none`, intArg(0, 65535, 'port'), 7491)
    .option('--url <url>', `a running controller listening on the fabric address (e.g. http://${FABRIC_ADDRESS}:7480); default $NUBO_URL, else credentials.json`)
    .option('--token <token>', 'its admin token (default: $NUBO_TOKEN, else $NUBO_HOME/credentials.json)')
    .option('--heartbeat-ms <ms>', 'agent heartbeat interval', intArg(100, 60_000, 'milliseconds'), 2000)
    .option('--no-migration-tls', 'migrate between the hosts in the clear; by default the lab makes a CA and per-host certificates in <dir>/pki and its agents migrate over TLS with peer verification')
    .action(runCliAction(async (signal, o: UpFlags) => {
      const dir = labDir(o);
      if (o.fabricOnly) {
        const st = await labFabricUp(o.prefix, dir);
        process.stdout.write(`fabric ${st.fabricBridge} with ${FABRIC_ADDRESS}/16 is up\n`);
        return EXIT.OK;
      }
      if (o.hosts === undefined) throw new UsageError('BAD_FLAG', 'lab up needs --hosts N (or --fabric-only)');
      const apis = { ec2Port: o.ec2Port === 0 ? undefined : o.ec2Port, s3Port: o.s3Port === 0 ? undefined : o.s3Port };
      const controller = o.startController ? { startOnPort: o.controllerPort, ...apis } : await resolveCredentials(o);
      const r = await labUp({ prefix: o.prefix, dir, hosts: o.hosts, clusters: o.clusters, controller, heartbeatMs: o.heartbeatMs, migrationTls: o.migrationTls, signal, log: (l) => process.stdout.write(`${l}\n`) });
      // The lab's own controller starts empty: give it what the README's first steps use.
      const changed = [...r.changed];
      if (o.startController) {
        const image = await buildTinyImage({ cacheDir: imageCacheDir(), signal });
        changed.push(...(await ensureLabCatalog(new NuboClient(r.credentials.url, r.credentials.token), r.state.fabricBridge, image, { signal })));
      }
      process.stdout.write(changed.length === 0 ? 'the lab was complete already\n' : `made: ${changed.join(', ')}\n`);
      process.stdout.write(`lab ${o.prefix} is up: ${r.state.hosts.length} hosts, controller ${r.credentials.url}, state ${join(dir, 'lab.json')}\n`);
      if (o.startController) {
        process.stdout.write(`the lab's controller credentials: ${labCredentialsFile(dir)}\n  export NUBO_URL=${r.credentials.url} NUBO_TOKEN=$(jq -r .token ${labCredentialsFile(dir)})\n`);
        const { controllerEc2Url: ec2, controllerS3Url: s3 } = r.state;
        if (ec2 !== undefined) process.stdout.write(`EC2 endpoint ${ec2}  (region nubo-1, a zone per cluster; keys: nubo user access-key create; aws --endpoint-url ${ec2} ec2 describe-availability-zones)\n`);
        if (s3 !== undefined) process.stdout.write(`S3 endpoint ${s3}  (region nubo-1)\n`);
        process.stdout.write(`its catalog: template tiny on network ${LAB_NETWORK.name} (${LAB_NETWORK.cidr}, gateway ${LAB_NETWORK.gateway} on ${r.state.fabricBridge}): a VM there answers from this machine, e.g. curl http://198.18.120.2/\n`);
      }
      return EXIT.OK;
    }));

  common(lab.command('down'))
    .description('remove every namespace, bridge, veth, TAP and process the lab recorded (also after a crash); the data directories stay')
    .action(runCliAction(async (_signal, o: LabFlags) => {
      const r = await labDown(labDir(o));
      process.stdout.write(r.removed.length === 0 ? 'nothing to remove\n' : `removed: ${r.removed.join(', ')}\n`);
      return EXIT.OK;
    }));

  common(lab.command('status'))
    .description("the lab's hosts: namespace, address, agent pid and whether it runs, the host's state at the controller; whether migration TLS is on")
    .option('--url <url>', 'controller URL (default: the lab\'s own controller, else $NUBO_URL, else credentials.json)')
    .option('--token <token>', 'API token')
    .option('--json', 'JSON instead of a table')
    .action(runCliAction(async (_signal, o: LabFlags) => {
      const dir = labDir(o);
      const creds = await statusCredentials(dir, o);
      const s = await labStatus(dir, creds ? new NuboClient(creds.url, creds.token) : undefined);
      if (o.json) return printJson(s);
      if (!s.state) throw new UsageError('NO_LAB', `no lab "${o.prefix}" here (${join(dir, 'lab.json')}); \`nubo lab up --hosts N\` makes one`);
      process.stdout.write(`lab ${s.state.prefix}: fabric ${s.state.fabricBridge} ${FABRIC_ADDRESS}/16, controller ${dash(s.state.controllerUrl)}${s.controllerError ? ` (unreachable: ${s.controllerError})` : ''}\n`);
      if (s.state.controllerEc2Url !== undefined || s.state.controllerS3Url !== undefined) process.stdout.write(`EC2 endpoint ${dash(s.state.controllerEc2Url)}, S3 endpoint ${dash(s.state.controllerS3Url)}\n`);
      const tls = s.state.migrationTls;
      process.stdout.write(`migration TLS: ${tls === undefined ? '-' : tls === false ? 'off' : `on (CA and host certificates in ${tls.pkiDir})`}; shared datastore ${s.state.sharedDir}\n`);
      printTable(['HOST', 'NETNS', 'ADDRESS', 'AGENT PID', 'AGENT', 'CONTROLLER', 'MIGRATION TLS'], s.hosts.map((h) => [
        h.name, `${h.netns}${h.netnsExists ? '' : ' (missing)'}`, h.address, dash(h.agentPid), h.agentAlive ? 'running' : 'dead', dash(h.controllerState),
        h.migrationTls === undefined ? '-' : h.migrationTls ? 'on' : 'off',
      ]));
    }));
}

async function statusCredentials(dir: string, o: LabFlags): Promise<LabCredentials | undefined> {
  if (o.url === undefined && o.token === undefined) {
    const own = await readFile(labCredentialsFile(dir), 'utf8').then((t) => JSON.parse(t) as LabCredentials, () => undefined);
    if (own) return own;
  }
  return resolveCredentials(o).catch(() => undefined);
}
