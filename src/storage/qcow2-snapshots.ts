import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';
import { parseSnapshotInfos, type DiskSnapshot } from '../hypervisor/disk-snapshot.js';

/*
 * Internal snapshots of a qcow2 file no QEMU holds open (a powered-off or
 * suspended VM's disk), with qemu-img. The format is always given (`-f
 * qcow2`; `snapshot` has no `-f`, so its image options name the driver), never
 * probed from the file's contents. The caller serialises calls on one
 * file and checks names against `listFileSnapshots` first — qemu-img itself
 * allows two snapshots with one name, and `-a` looks ids up before names.
 */

const TIMEOUT_MS = 300_000;
/** `qemu-img snapshot <op> <arg>` on the file opened as qcow2 (commas in an image-opts value are doubled). */
const snapshot = (path: string, op: '-c' | '-a' | '-d', arg: string, opts: WaitOptions): Promise<unknown> =>
  runCommand('qemu-img', ['snapshot', '-q', '--image-opts', op, arg, `driver=qcow2,file.filename=${path.replaceAll(',', ',,')}`], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? TIMEOUT_MS });

/** The file's snapshots, oldest first. `-U`: a read of the header only, safe even if a QEMU had the file open. */
export async function listFileSnapshots(path: string, opts: WaitOptions = {}): Promise<DiskSnapshot[]> {
  const { stdout } = await runCommand('qemu-img', ['info', '-U', '-f', 'qcow2', '--output=json', path], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000 });
  return parseSnapshotInfos((JSON.parse(stdout) as { snapshots?: unknown }).snapshots);
}

export async function createFileSnapshot(path: string, name: string, opts: WaitOptions = {}): Promise<void> {
  await snapshot(path, '-c', name, opts);
}

/** Reverts the file's current state to the snapshot with this qcow2 id (an id, never a name: see DiskSnapshot.id). */
export async function revertFileSnapshot(path: string, id: string, opts: WaitOptions = {}): Promise<void> {
  await snapshot(path, '-a', id, opts);
}

/** Deletes the snapshot tagged `name` (qemu-img 7.2 matches `-d` against names first). */
export async function deleteFileSnapshot(path: string, name: string, opts: WaitOptions = {}): Promise<void> {
  await snapshot(path, '-d', name, opts);
}
