import { hostHaView, vmHaView, type fenceConfigBody, type HostHaView } from '../contract/ha-schemas.js';
import { datastoreView, type CreateDatastoreBody, type DatastoreView } from '../contract/datastore-schemas.js';
import { addClusterHostView, clusterView, zoneView, type AddClusterHostView, type ClusterView, type CreateClusterBody, type ZoneView } from '../contract/cluster-schemas.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { hostView, type HostView, type UpdateHostBody } from '../contract/host-schemas.js';
import { cloudDetailView, cloudView, type CloudDetailView, type CloudView, type CreateCloudBody } from '../contract/cloud-schemas.js';
import { imageView, type ImageView, type RegisterImageBody, type UploadImageQuery } from '../contract/image-schemas.js';
import type { ImageFromObjectBody } from '../contract/image-object-schemas.js';
import type { ResizeVmBody } from '../contract/vm-resize-schemas.js';
import { leaseView, networkDetailView, networkView, type CreateNetworkBody, type LeaseView, type NetworkDetailView, type NetworkView } from '../contract/network-schemas.js';
import { templateView, type ImportTemplateBody, type UploadTemplateQuery, type TemplateBody, type TemplateView, type UpdateTemplateBody } from '../contract/template-schemas.js';
import { createdVmView, purgeVmsView, vmDetailView, vmView, type CreatedVmView, type PurgeVmsBody, type PurgeVmsView, type AttachNicBody, type CreateVmBody, type VmApiAction, type VmDetailView, type VmView } from '../contract/vm-schemas.js';
import { userView, type SetSshKeysBody, type UserView } from '../contract/user-schemas.js';
import { eventView, type EventView } from '../contract/event-schemas.js';
import { cloudMigrationView, migrationDryRunView, migrationView, type CloudMigrationView, type MigrationDryRunView, type MigrationView, type migrateVmBody } from '../contract/migration-schemas.js';
import { hostMaintenanceView, type HostMaintenanceView, type hostMaintenanceBody } from '../contract/host-schemas.js';
import {
  diskMoveView, volumeView, type AttachVolumeBody, type CreateVolumeBody, type DiskMoveBody, type DiskMoveView, type VolumeView,
} from '../contract/storage-schemas.js';
import { snapshotView, type CreateSnapshotBody, type SnapshotView } from '../contract/snapshot-schemas.js';
import { ValidationError } from '../errors/validation-error.js';
import { saveAsView, type CloneBody, type SaveAsBody, type SaveAsView } from '../contract/capture-schemas.js';
import type { WaitOptions } from '../util/deadline.js';
import { jsonRequest } from './json-request.js';
import { downloadToFile } from './download-to-file.js';
import { hostMetricsView, hostTopView, vmMetricsView, vmTopView, type HostMetricsView, type HostTopView, type VmMetricsView, type VmTopView } from '../contract/metrics-schemas.js';

const sinceQuery = (since: string | undefined): string => (since === undefined ? '' : `?since=${encodeURIComponent(since)}`);

type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** A download's options: its deadline and signal, and who hears of the bytes as they arrive. */
/** `overwrite: false`: an existing destination file is refused, not replaced (default: replaced). */
export type DownloadOptions = WaitOptions & { readonly onProgress?: (bytes: number, total: number | undefined) => void; readonly overwrite?: boolean };
/** `onProgress` gets the bytes sent so far and the file's size. */
export type UploadOptions = WaitOptions & { readonly onProgress?: (sent: number, total: number) => void };

/**
 * A snapshot name as a path segment. `.` and `..` cannot be one: URL parsing
 * resolves them (even percent-encoded), so `DELETE …/snapshots/..` would
 * reach another resource. Refused here as the server refuses every path.
 */
function snapshotSegment(name: string): string {
  if (/^(\.|%2e)+$/i.test(name)) throw new ValidationError('snapshot', [{ field: 'name', message: 'must be a plain name, not a path' }]);
  return encodeURIComponent(name);
}

/** Typed client of the controller's native API (`/api/v1`), as used by the CLI and tests. */
export class NuboClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  #call<T>(method: Method, path: string, schema: z.ZodType<T> | undefined, body?: unknown, o: WaitOptions = {}): Promise<T> {
    return jsonRequest({ method, url: `${this.baseUrl}/api/v1${path}`, token: this.token, body, ...(schema ? { schema } : {}), signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  whoami(o?: WaitOptions) { return this.#call('GET', '/users/me', userView, undefined, o); }
  /** Replaces the caller's ssh public keys; the VMs created from now on get them (running ones keep theirs). */
  setSshKeys(sshKeys: readonly string[], o?: WaitOptions): Promise<UserView> { return this.#call('PUT', '/users/me/ssh-keys', userView, { sshKeys: [...sshKeys] } satisfies SetSshKeysBody, o); }

  listHosts(o?: WaitOptions): Promise<HostView[]> { return this.#call('GET', '/hosts', z.array(hostView), undefined, o); }
  getHost(id: string, o?: WaitOptions): Promise<HostView> { return this.#call('GET', `/hosts/${encodeURIComponent(id)}`, hostView, undefined, o); }
  registerHost(body: { name: string; agentUrl: string; agentToken: string }, o?: WaitOptions): Promise<HostView> { return this.#call('POST', '/hosts', hostView, body, o); }
  updateHost(id: string, body: UpdateHostBody, o?: WaitOptions): Promise<HostView> { return this.#call('PATCH', `/hosts/${encodeURIComponent(id)}`, hostView, body, o); }
  enableHost(id: string, o?: WaitOptions): Promise<HostView> { return this.#call('POST', `/hosts/${encodeURIComponent(id)}/enable`, hostView, undefined, o); }
  disableHost(id: string, o?: WaitOptions): Promise<HostView> { return this.#call('POST', `/hosts/${encodeURIComponent(id)}/disable`, hostView, undefined, o); }
  /** Forgets a host (admin); refused (409) while VMs or volumes are on it. The answer is the host as it was. */
  setFenceConfig(id: string, body: z.input<typeof fenceConfigBody>, o?: WaitOptions): Promise<HostHaView> { return this.#call('PUT', `/hosts/${encodeURIComponent(id)}/fence-config`, hostHaView, body, o); }
  hostHa(id: string, o?: WaitOptions): Promise<HostHaView> { return this.#call('GET', `/hosts/${encodeURIComponent(id)}/ha`, hostHaView, undefined, o); }
  setVmHa(id: string, ha: boolean, o?: WaitOptions): Promise<z.infer<typeof vmHaView>> { return this.#call('PUT', `/vms/${encodeURIComponent(id)}/ha`, vmHaView, { ha }, o); }
  vmHa(id: string, o?: WaitOptions): Promise<z.infer<typeof vmHaView>> { return this.#call('GET', `/vms/${encodeURIComponent(id)}/ha`, vmHaView, undefined, o); }
  listClusters(o?: WaitOptions): Promise<ClusterView[]> { return this.#call('GET', '/clusters', z.array(clusterView), undefined, o); }
  getCluster(id: string, o?: WaitOptions): Promise<ClusterView> { return this.#call('GET', `/clusters/${encodeURIComponent(id)}`, clusterView, undefined, o); }
  createCluster(body: CreateClusterBody, o?: WaitOptions): Promise<ClusterView> { return this.#call('POST', '/clusters', clusterView, body, o); }
  addClusterHost(id: string, host: string, o?: WaitOptions): Promise<AddClusterHostView> { return this.#call('POST', `/clusters/${encodeURIComponent(id)}/hosts`, addClusterHostView, { host }, o); }
  deleteCluster(id: string, o?: WaitOptions): Promise<ClusterView> { return this.#call('DELETE', `/clusters/${encodeURIComponent(id)}`, clusterView, undefined, o); }
  listDatastores(o?: WaitOptions): Promise<DatastoreView[]> { return this.#call('GET', '/datastores', z.array(datastoreView), undefined, o); }
  getDatastore(id: string, o?: WaitOptions): Promise<DatastoreView> { return this.#call('GET', `/datastores/${encodeURIComponent(id)}`, datastoreView, undefined, o); }
  createDatastore(body: CreateDatastoreBody, o?: WaitOptions): Promise<DatastoreView> { return this.#call('POST', '/datastores', datastoreView, body, o); }
  deleteDatastore(id: string, o?: WaitOptions): Promise<DatastoreView> { return this.#call('DELETE', `/datastores/${encodeURIComponent(id)}`, datastoreView, undefined, o); }
  listZones(o?: WaitOptions): Promise<ZoneView[]> { return this.#call('GET', '/zones', z.array(zoneView), undefined, o); }
  deleteHost(id: string, o?: WaitOptions): Promise<HostView> { return this.#call('DELETE', `/hosts/${encodeURIComponent(id)}`, hostView, undefined, o); }
  /** Remote clouds (bursting; admin). */
  listClouds(o?: WaitOptions): Promise<CloudView[]> { return this.#call('GET', '/clouds', z.array(cloudView), undefined, o); }
  addCloud(body: CreateCloudBody, o?: WaitOptions): Promise<CloudView> { return this.#call('POST', '/clouds', cloudView, body, o); }
  /** By id or name, with its VMs' instances. */
  getCloud(ref: string, o?: WaitOptions): Promise<CloudDetailView> { return this.#call('GET', `/clouds/${encodeURIComponent(ref)}`, cloudDetailView, undefined, o); }
  /** Refused (409) while VMs are bound to it. */
  removeCloud(ref: string, o?: WaitOptions): Promise<CloudView> { return this.#call('DELETE', `/clouds/${encodeURIComponent(ref)}`, cloudView, undefined, o); }
  /** A host's recent metrics samples (admin); `since` an ISO date-time. */
  hostMetrics(id: string, since?: string, o?: WaitOptions): Promise<HostMetricsView> { return this.#call('GET', `/hosts/${encodeURIComponent(id)}/metrics${sinceQuery(since)}`, hostMetricsView, undefined, o); }
  /** A VM's recent metrics samples; `since` an ISO date-time. */
  vmMetrics(id: string, since?: string, o?: WaitOptions): Promise<VmMetricsView> { return this.#call('GET', `/vms/${encodeURIComponent(id)}/metrics${sinceQuery(since)}`, vmMetricsView, undefined, o); }
  vmTop(o?: WaitOptions): Promise<VmTopView> { return this.#call('GET', '/metrics/vms', vmTopView, undefined, o); }
  hostTop(o?: WaitOptions): Promise<HostTopView> { return this.#call('GET', '/metrics/hosts', hostTopView, undefined, o); }

  listImages(o?: WaitOptions): Promise<ImageView[]> { return this.#call('GET', '/images', z.array(imageView), undefined, o); }
  getImage(id: string, o?: WaitOptions): Promise<ImageView> { return this.#call('GET', `/images/${encodeURIComponent(id)}`, imageView, undefined, o); }
  registerImage(body: RegisterImageBody, o?: WaitOptions): Promise<ImageView> {
    return this.#call('POST', '/images', imageView, body, { timeoutMs: 600_000, ...o });
  }
  /** Makes an image of an S3 object the caller owns (copied and checked by the controller: minutes for a large disk). */
  registerImageFromS3(body: ImageFromObjectBody, o?: WaitOptions): Promise<ImageView> {
    return this.#call('POST', '/images/from-s3', imageView, body, { timeoutMs: 3_600_000, ...o });
  }
  /**
   * Uploads a local file as an image (admin): its SHA-256 is computed first and
   * checked by the controller. `onProgress` gets the bytes sent so far.
   */
  async uploadImage(input: UploadImageQuery & { file: string }, o: UploadOptions = {}): Promise<ImageView> {
    const { file, ...query } = input;
    return this.#uploadFile('/images/upload', file, (sha256) => ({ name: query.name, sha256: query.sha256 ?? sha256, ...(query.format !== undefined ? { format: query.format } : {}), ...(query.minMemoryMiB !== undefined ? { minMemoryMiB: String(query.minMemoryMiB as number) } : {}) }), imageView, o);
  }
  /**
   * Uploads a local .ova (admin) and imports it as a template, as
   * importTemplate does a file on the controller's machine.
   */
  async uploadTemplate(input: UploadTemplateQuery & { file: string }, o: UploadOptions = {}): Promise<TemplateView> {
    const { file, ...query } = input;
    return this.#uploadFile('/templates/import/upload', file, (sha256) => ({ sha256: query.sha256 ?? sha256, ...(query.name !== undefined ? { name: query.name } : {}) }), templateView, o);
  }
  /** POSTs `file` as the body (its SHA-256 computed first, for the query) and parses the answer with `schema`. */
  async #uploadFile<T>(route: string, file: string, query: (sha256: string) => Record<string, string>, schema: z.ZodType<T>, o: UploadOptions): Promise<T> {
    const length = (await stat(file)).size;
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash, { signal: o.signal ?? new AbortController().signal });
    const q = new URLSearchParams(query(hash.digest('hex')));
    let sent = 0;
    const body = async function* (): AsyncGenerator<Uint8Array> {
      if (length === 0) return;
      // No further than the length announced: a file that grows meanwhile must not overrun Content-Length.
      for await (const chunk of createReadStream(file, { end: length - 1 }) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        o.onProgress?.(sent, length);
        yield chunk;
      }
    };
    return jsonRequest({ method: 'POST', url: `${this.baseUrl}/api/v1${route}?${q.toString()}`, token: this.token, upload: { body: body(), length }, schema, signal: o.signal, timeoutMs: o.timeoutMs ?? 1_800_000 });
  }
  deleteImage(id: string, o?: WaitOptions): Promise<void> { return this.#call('DELETE', `/images/${encodeURIComponent(id)}`, undefined, undefined, o); }

  listNetworks(o?: WaitOptions): Promise<NetworkView[]> { return this.#call('GET', '/networks', z.array(networkView), undefined, o); }
  getNetwork(id: string, o?: WaitOptions): Promise<NetworkDetailView> { return this.#call('GET', `/networks/${encodeURIComponent(id)}`, networkDetailView, undefined, o); }
  createNetwork(body: CreateNetworkBody, o?: WaitOptions): Promise<NetworkView> { return this.#call('POST', '/networks', networkView, body, o); }
  deleteNetwork(id: string, o?: WaitOptions): Promise<void> { return this.#call('DELETE', `/networks/${encodeURIComponent(id)}`, undefined, undefined, o); }
  /** Takes an address of the network out of allocation. */
  holdAddress(id: string, address: string, o?: WaitOptions): Promise<LeaseView> { return this.#call('POST', `/networks/${encodeURIComponent(id)}/holds`, leaseView, { address }, o); }
  unholdAddress(id: string, address: string, o?: WaitOptions): Promise<LeaseView> {
    return this.#call('DELETE', `/networks/${encodeURIComponent(id)}/holds/${encodeURIComponent(address)}`, leaseView, undefined, o);
  }

  listTemplates(o?: WaitOptions): Promise<TemplateView[]> { return this.#call('GET', '/templates', z.array(templateView), undefined, o); }
  getTemplate(id: string, o?: WaitOptions): Promise<TemplateView> { return this.#call('GET', `/templates/${encodeURIComponent(id)}`, templateView, undefined, o); }
  createTemplate(body: TemplateBody, o?: WaitOptions): Promise<TemplateView> { return this.#call('POST', '/templates', templateView, body, o); }
  updateTemplate(id: string, body: UpdateTemplateBody, o?: WaitOptions): Promise<TemplateView> { return this.#call('PATCH', `/templates/${encodeURIComponent(id)}`, templateView, body, o); }
  deleteTemplate(id: string, o?: WaitOptions): Promise<void> { return this.#call('DELETE', `/templates/${encodeURIComponent(id)}`, undefined, undefined, o); }
  /** Imports an .ova or .ovf that lies on the controller's machine (admin). */
  importTemplate(body: ImportTemplateBody, o?: WaitOptions): Promise<TemplateView> {
    return this.#call('POST', '/templates/import', templateView, body, { timeoutMs: 1_800_000, ...o });
  }
  /** Downloads the template (id or name) as an OVA into `dest` (whole or not at all). */
  exportTemplate(id: string, dest: string, o: DownloadOptions = {}): Promise<{ bytes: number }> {
    return downloadToFile({ url: `${this.baseUrl}/api/v1/templates/${encodeURIComponent(id)}/export`, token: this.token, dest, signal: o.signal, timeoutMs: o.timeoutMs ?? 1_800_000, onProgress: o.onProgress, overwrite: o.overwrite });
  }

  listVms(filter: { state?: string; host?: string } = {}, o?: WaitOptions): Promise<VmView[]> {
    const q = new URLSearchParams(Object.entries(filter).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, v]]))).toString();
    return this.#call('GET', `/vms${q ? `?${q}` : ''}`, z.array(vmView), undefined, o);
  }
  getVm(id: string, o?: WaitOptions): Promise<VmDetailView> { return this.#call('GET', `/vms/${encodeURIComponent(id)}`, vmDetailView, undefined, o); }
  createVm(body: CreateVmBody, o?: WaitOptions): Promise<CreatedVmView> { return this.#call('POST', '/vms', createdVmView, body, o); }
  /** Deletes the records of terminated VMs (the caller's; an admin's: all) terminated at least `olderThanS` seconds ago. */
  purgeVms(body: PurgeVmsBody, o?: WaitOptions): Promise<PurgeVmsView> { return this.#call('POST', '/vms/purge', purgeVmsView, body, o); }
  /** A powered-off VM's new vCPUs and memory (it boots with them on its next start). */
  resizeVm(id: string, body: ResizeVmBody, o?: WaitOptions): Promise<VmView> { return this.#call('POST', `/vms/${encodeURIComponent(id)}/resize`, vmView, body, o); }
  vmAction(id: string, action: VmApiAction, o?: WaitOptions): Promise<VmView> { return this.#call('POST', `/vms/${encodeURIComponent(id)}/actions/${action}`, vmView, undefined, o); }
  /** Attaches a NIC with a lease on a network (hot-plugged into a running VM); the answer is the VM with its NICs. */
  attachNic(id: string, body: AttachNicBody, o?: WaitOptions): Promise<VmDetailView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/nics`, vmDetailView, body, { timeoutMs: 120_000, ...o });
  }
  /** Detaches NIC `index` (a running guest has to release it first); its address goes back to the network. */
  detachNic(id: string, index: number, o?: WaitOptions): Promise<VmDetailView> {
    return this.#call('DELETE', `/vms/${encodeURIComponent(id)}/nics/${index}`, vmDetailView, undefined, { timeoutMs: 120_000, ...o });
  }
  /** Starts moving a running VM's disk to its host's other datastore (202); `getDiskMove` follows it. */
  moveDisk(id: string, body: DiskMoveBody, o?: WaitOptions): Promise<DiskMoveView> { return this.#call('POST', `/vms/${encodeURIComponent(id)}/disk/move`, diskMoveView, body, o); }
  getDiskMove(id: string, o?: WaitOptions): Promise<DiskMoveView> { return this.#call('GET', `/vms/${encodeURIComponent(id)}/disk/move`, diskMoveView, undefined, o); }
  cancelDiskMove(id: string, o?: WaitOptions): Promise<DiskMoveView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/disk/move/cancel`, diskMoveView, undefined, { timeoutMs: 120_000, ...o });
  }
  /** Attaches a volume (by name or id) to a running (hot-plug) or powered-off VM. */
  attachVolume(id: string, body: AttachVolumeBody, o?: WaitOptions): Promise<VolumeView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/volumes`, volumeView, body, { timeoutMs: 120_000, ...o });
  }
  detachVolume(id: string, volume: string, o?: WaitOptions): Promise<VolumeView> {
    return this.#call('DELETE', `/vms/${encodeURIComponent(id)}/volumes/${encodeURIComponent(volume)}`, volumeView, undefined, { timeoutMs: 120_000, ...o });
  }
  /** The snapshots of the VM's disk, oldest first. */
  listSnapshots(id: string, o?: WaitOptions): Promise<SnapshotView[]> { return this.#call('GET', `/vms/${encodeURIComponent(id)}/snapshots`, z.array(snapshotView), undefined, o); }
  /** Takes a snapshot of a running, powered-off or suspended VM's disk. */
  createSnapshot(id: string, body: CreateSnapshotBody, o?: WaitOptions): Promise<SnapshotView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/snapshots`, snapshotView, body, { timeoutMs: 300_000, ...o });
  }
  /** Reverts a powered-off VM's disk to a snapshot. */
  async revertSnapshot(id: string, name: string, o?: WaitOptions): Promise<SnapshotView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/snapshots/${snapshotSegment(name)}/revert`, snapshotView, undefined, { timeoutMs: 300_000, ...o });
  }
  async deleteSnapshot(id: string, name: string, o?: WaitOptions): Promise<void> {
    return this.#call('DELETE', `/vms/${encodeURIComponent(id)}/snapshots/${snapshotSegment(name)}`, undefined, undefined, { timeoutMs: 300_000, ...o });
  }
  /** Saves the VM's disk as it is now as an image (and a template of the VM on it); answers once the copy is registered. */
  saveVmAs(id: string, body: SaveAsBody, o?: WaitOptions): Promise<SaveAsView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/save-as`, saveAsView, body, { timeoutMs: 3_600_000, ...o });
  }
  /** Clones the VM into a new one of the caller's (its disk copied into the image `<name>-disk`); the answer is the new VM, pending. */
  cloneVm(id: string, body: CloneBody, o?: WaitOptions): Promise<VmView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/clone`, vmView, body, { timeoutMs: 3_600_000, ...o });
  }
  /** Downloads the VM (id or name), its disk as it is now, as an OVA into `dest` (whole or not at all). */
  exportVm(id: string, dest: string, o: DownloadOptions = {}): Promise<{ bytes: number }> {
    return downloadToFile({ url: `${this.baseUrl}/api/v1/vms/${encodeURIComponent(id)}/export`, token: this.token, dest, signal: o.signal, timeoutMs: o.timeoutMs ?? 3_600_000, onProgress: o.onProgress, overwrite: o.overwrite });
  }
  /** The VM's serial console log (plain text). */
  vmConsole(id: string, o: WaitOptions = {}): Promise<string> {
    return jsonRequest<string>({ method: 'GET', url: `${this.baseUrl}/api/v1/vms/${encodeURIComponent(id)}/console`, token: this.token, responseType: 'text', signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  /** Starts a migration (admins): live for a running VM, cold for a powered-off or suspended one; the answer is the migration as it begins (202). */
  migrateVm(id: string, body: z.input<typeof migrateVmBody>, o?: WaitOptions): Promise<MigrationView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/migrate`, migrationView, body, o);
  }
  /** Starts a migration between clouds (admins): `cloud` a registered cloud's name (out) or `local` (back, to `to` or a host placement picks). */
  migrateVmCloud(id: string, body: { cloud: string; to?: string | undefined; start?: boolean | undefined }, o?: WaitOptions): Promise<CloudMigrationView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/migrate`, cloudMigrationView, body, o);
  }
  /** The VM's migration between clouds, in flight or the last one. */
  getCloudMigration(id: string, o?: WaitOptions): Promise<CloudMigrationView> {
    return this.#call('GET', `/vms/${encodeURIComponent(id)}/cloud-migration`, cloudMigrationView, undefined, o);
  }
  /** The pre-checks and the planner's prediction of a migration; nothing is queued or changed. */
  dryRunMigration(id: string, body: Omit<z.input<typeof migrateVmBody>, 'dryRun'>, o?: WaitOptions): Promise<MigrationDryRunView> {
    return this.#call('POST', `/vms/${encodeURIComponent(id)}/migrate`, migrationDryRunView, { ...body, dryRun: true }, o);
  }
  /** Puts a host in maintenance (admin): its VMs are migrated away in the background. */
  beginHostMaintenance(id: string, body: z.input<typeof hostMaintenanceBody>, o?: WaitOptions): Promise<HostMaintenanceView> {
    return this.#call('POST', `/hosts/${encodeURIComponent(id)}/maintenance`, hostMaintenanceView, body, o);
  }
  getHostMaintenance(id: string, o?: WaitOptions): Promise<HostMaintenanceView> {
    return this.#call('GET', `/hosts/${encodeURIComponent(id)}/maintenance`, hostMaintenanceView, undefined, o);
  }
  listMigrations(filter: { vm?: string; state?: MigrationView['state'] } = {}, o?: WaitOptions): Promise<MigrationView[]> {
    const q = new URLSearchParams(Object.entries(filter).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, v]]))).toString();
    return this.#call('GET', `/migrations${q ? `?${q}` : ''}`, z.array(migrationView), undefined, o);
  }
  getMigration(id: string, o?: WaitOptions): Promise<MigrationView> { return this.#call('GET', `/migrations/${encodeURIComponent(id)}`, migrationView, undefined, o); }
  /** Asks a running migration to roll back to its source; refused (409) once it is past its commit. */
  cancelMigration(id: string, o?: WaitOptions): Promise<MigrationView> { return this.#call('POST', `/migrations/${encodeURIComponent(id)}/cancel`, migrationView, undefined, o); }

  listVolumes(o?: WaitOptions): Promise<VolumeView[]> { return this.#call('GET', '/volumes', z.array(volumeView), undefined, o); }
  getVolume(id: string, o?: WaitOptions): Promise<VolumeView> { return this.#call('GET', `/volumes/${encodeURIComponent(id)}`, volumeView, undefined, o); }
  createVolume(body: CreateVolumeBody, o?: WaitOptions): Promise<VolumeView> { return this.#call('POST', '/volumes', volumeView, body, o); }
  deleteVolume(id: string, o?: WaitOptions): Promise<void> { return this.#call('DELETE', `/volumes/${encodeURIComponent(id)}`, undefined, undefined, o); }

  listEvents(since = 0, o?: WaitOptions): Promise<EventView[]> { return this.#call('GET', `/events/history?since=${since}`, z.array(eventView), undefined, o); }
  /** The newest `n` events the caller may read (1–500), oldest first. */
  latestEvents(n: number, o?: WaitOptions): Promise<EventView[]> { return this.#call('GET', `/events/history?latest=${n}`, z.array(eventView), undefined, o); }
}
