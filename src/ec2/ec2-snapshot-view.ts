import type { SnapshotView } from '../contract/snapshot-schemas.js';
import type { VmView } from '../contract/vm-schemas.js';
import { Ec2ApiError } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context } from './ec2-context.js';
import { isEc2Id } from './ec2-ids.js';

/**
 * What an EC2 snapshot is in nubo: a disk snapshot, a qcow2 internal
 * snapshot inside an instance's disk file (`/api/v1/vms/{id}/snapshots`).
 * A `snap-` id maps to `{vmId}/{snapshot name}`.
 */

/** The states in which nubo reads or changes a VM's disk snapshots (its disk is on its host). */
export const SNAPSHOT_STATES: readonly string[] = ['running', 'poweroff', 'suspended'];

export interface NuboSnapshot { readonly snapshotId: string; readonly vm: VmView; readonly name: string; readonly snapshot: SnapshotView | undefined }

const notFound = (id: string): Ec2ApiError => new Ec2ApiError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);

/** The snapshot a `snap-` id names, if the caller may see its instance; another user's looks exactly like a missing one. */
export async function resolveSnapshot(ctx: Ec2Context, call: Ec2Call, snapshotId: string, param = 'SnapshotId'): Promise<NuboSnapshot> {
  if (!isEc2Id('snapshot', snapshotId)) throw new Ec2ApiError('InvalidSnapshotID.Malformed', `Invalid id: "${snapshotId}" (expecting "snap-..." in ${param})`);
  const nuboId = await ctx.records.nuboIdOf('snapshot', snapshotId);
  const slash = nuboId?.indexOf('/') ?? -1;
  if (nuboId === undefined || slash < 0) throw notFound(snapshotId);
  const vm = await nativeCall<VmView>(ctx, call, 'GET', `/api/v1/vms/${nuboId.slice(0, slash)}`, undefined, { notFound: 'InvalidSnapshot.NotFound' }).catch((err: unknown) => {
    throw err instanceof Ec2ApiError && err.awsCode === 'InvalidSnapshot.NotFound' ? notFound(snapshotId) : err;
  });
  if (vm.state === 'terminated') throw notFound(snapshotId);
  const name = nuboId.slice(slash + 1);
  // While the disk is off its host (a stopped VM's files moved away) its snapshots cannot be read; the id is trusted then.
  if (!SNAPSHOT_STATES.includes(vm.state)) return { snapshotId, vm, name, snapshot: undefined };
  const snapshot = (await snapshotsOf(ctx, call, vm)).find((s) => s.name === name);
  if (snapshot === undefined) throw notFound(snapshotId);
  return { snapshotId, vm, name, snapshot };
}

export async function snapshotsOf(ctx: Ec2Context, call: Ec2Call, vm: VmView): Promise<SnapshotView[]> {
  return nativeCall<SnapshotView[]>(ctx, call, 'GET', `/api/v1/vms/${vm.id}/snapshots`, undefined, { notFound: 'InvalidSnapshot.NotFound' });
}

