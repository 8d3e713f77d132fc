import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { VmNotFoundError } from '../hypervisor/hypervisor-errors.js';
import { checkVmId, isVmId } from '../core/vm-id.js';
import { readJsonFile } from '../util/read-json-file.js';
import { agentVmSpecSchema, incomingReadySchema, type AgentVmSpec, type IncomingReadyReport } from '../contract/agent-api.js';
import { AgentMigrationError } from './agent-migration-error.js';

/** The files of one VM in `<dataDir>/vms/<id>/`, which only this agent reads. */
export interface VmPaths {
  readonly dir: string;
  /** The VM's record: a directory with one holds a completely prepared (or received) VM. */
  readonly spec: string;
  /** A prolog under way (or cut short by a crash): the spec it was asked for. */
  readonly preparing: string;
  readonly disk: string;
  readonly iso: string;
  /** Saved memory of a suspended VM whose disk is local (one on the shared datastore keeps it there: `statePath`). */
  readonly state: string;
  /** This host is the destination of a live migration of the VM. */
  readonly incoming: string;
  /** A live storage migration between this host's datastores is under way. */
  readonly diskMove: string;
  /** The serial console's log, which every QEMU of the VM on this host appends to; goes with the VM (its directory). */
  readonly consoleLog: string;
  /** The console log the VM had on the host it came from (a migration's source): read before `consoleLog`. */
  readonly consoleEarlier: string;
}

/** Where a VM's disk and config drive are in one datastore. */
export interface VmFiles {
  readonly disk: string;
  readonly iso: string;
  /** The VM's own directory in the shared datastore (deleted whole when the VM leaves it). */
  readonly sharedDir?: string;
}

/** What a destination keeps while it waits for a migration: which one, and what it told the controller. */
export interface IncomingMarker {
  readonly migrationId: string;
  readonly ready: IncomingReadyReport;
}
// Loose: fields a newer agent wrote survive being read by this one.
const incomingMarkerSchema = z.looseObject({ migrationId: z.string().min(1), ready: incomingReadySchema });

/**
 * The VMs this host holds, as files: each VM's record (its spec), the
 * markers of operations that must survive a crash of the agent, and where
 * its disk and config drive are — in `<dataDir>/vms/<id>/`, or in
 * `<sharedDir>/vms/<id>/` for the shared datastore. Every id is checked
 * before a path is built from it.
 */
export class VmRecordStore {
  constructor(readonly dataDir: string, readonly sharedDir?: string) {}

  /** The directory every VM's local directory is in. */
  get root(): string {
    return join(this.dataDir, 'vms');
  }

  paths(id: string): VmPaths {
    const dir = join(this.root, checkVmId(id));
    return { dir, spec: join(dir, 'agent-vm.json'), preparing: join(dir, 'preparing.json'), disk: join(dir, 'disk.qcow2'), iso: join(dir, 'cidata.iso'), state: join(dir, 'memory.state'), incoming: join(dir, 'incoming.json'), diskMove: join(dir, 'disk-move.json'), consoleLog: join(dir, 'console.log'), consoleEarlier: join(dir, 'console-earlier.log') };
  }

  /** The files of a VM's disk and config drive, local or on the shared datastore. */
  files(id: string, spec: AgentVmSpec): VmFiles {
    if (spec.disk.datastore === 'shared') {
      if (this.sharedDir === undefined) throw new AgentMigrationError(id, 'this host has no shared datastore (--shared-dir)');
      const dir = join(this.sharedDir, 'vms', checkVmId(id));
      return { disk: join(dir, 'disk.qcow2'), iso: join(dir, 'cidata.iso'), sharedDir: dir };
    }
    const p = this.paths(id);
    return { disk: p.disk, iso: p.iso };
  }

  /**
   * Where a suspend writes the VM's memory: beside its disk. For a disk on the
   * shared datastore that is the shared directory, so any host that shares it
   * resumes the VM with nothing copied — a cold migration of the suspended VM
   * is a hand-off of its record (what a lease resumed on other hosts does).
   */
  statePath(id: string, spec: AgentVmSpec): string {
    const shared = this.files(id, spec).sharedDir;
    return shared === undefined ? this.paths(id).state : join(shared, 'memory.state');
  }

  /**
   * The file of the VM's saved memory, undefined when it has none: the local
   * one (a local disk's, or one saved before the shared datastore kept it),
   * else the shared datastore's. Known from the VM's id alone, so a heartbeat
   * reads no record for it.
   */
  async savedState(id: string): Promise<string | undefined> {
    const candidates = [this.paths(id).state, ...(this.sharedDir === undefined ? [] : [join(this.sharedDir, 'vms', checkVmId(id), 'memory.state')])];
    for (const c of candidates) if (await stat(c).then((st) => st.isFile(), () => false)) return c;
    return undefined;
  }

  /** The ids of the VM directories on this host (a name that is no VM id is no VM's). */
  async ids(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter(isVmId);
  }

  /**
   * Undefined only when this host holds no such VM (no record, ENOENT). A
   * record that exists but cannot be read or is not a valid spec is an
   * UnreadableFileError: taken for "absent", it would let a prepare or an
   * incoming migration delete the VM's disk.
   */
  readSpec(id: string): Promise<AgentVmSpec | undefined> {
    return readJsonFile(this.paths(id).spec, agentVmSpecSchema, 'VM record');
  }

  /** The spec of a VM this host holds; VmNotFoundError when it holds none. */
  async requireSpec(id: string): Promise<AgentVmSpec> {
    const spec = await this.readSpec(id);
    if (!spec) throw new VmNotFoundError(id);
    return spec;
  }

  /** Replaces the record at once (a rename): a reader sees the old spec or the new one. */
  async writeSpec(id: string, spec: AgentVmSpec): Promise<void> {
    await writeAtomically(this.paths(id).spec, spec);
  }

  /** The spec an interrupted prolog was asked for; undefined when none was under way. */
  readPreparing(id: string): Promise<AgentVmSpec | undefined> {
    return readJsonFile(this.paths(id).preparing, agentVmSpecSchema, 'prolog marker');
  }

  /** Undefined only when there is no marker; an unusable one is an UnreadableFileError. */
  readIncoming(id: string): Promise<IncomingMarker | undefined> {
    return readJsonFile(this.paths(id).incoming, incomingMarkerSchema, 'incoming-migration marker');
  }

  async writeIncoming(id: string, marker: IncomingMarker): Promise<void> {
    await writeAtomically(this.paths(id).incoming, marker);
  }

  async removeIncoming(id: string): Promise<void> {
    await rm(this.paths(id).incoming, { force: true });
  }
}

async function writeAtomically(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value));
  await rename(`${path}.tmp`, path);
}
