import { rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { readJsonFile } from '../../util/read-json-file.js';

/** The marker's name in the VM's run directory (gone with QEMU: `destroy` removes the directory). */
export const SAVE_MARKER = 'save.json';

/**
 * What a save writes before it stops the VM, for the retry of a save whose
 * agent died: its attempt's token (which part and rc files are its own,
 * state-file-writer.ts) and whether the VM ran before it — QEMU is then
 * `paused` whatever it was, and a retry that fails must run it again.
 */
export interface SaveMarker {
  readonly token: string;
  readonly wasRunning: boolean;
  /**
   * Who writes the attempt's part file: QEMU itself (`fd`, whose `completed` proves it whole) or the exec: URI's
   * detached dd (`exec`, whole only once it also exited 0). Rewritten to `exec` before a fallback's writer starts; a
   * marker without it is an older agent's, which had only the exec writer. `ram`: format 2 (ram-state-save.ts), whose
   * part is whole only once its header is there and valid; rewritten to `fd`/`exec` before a fallback to format 1.
   */
  readonly mode?: 'fd' | 'exec' | 'ram' | undefined;
}

const saveMarkerSchema = z.strictObject({ token: z.string().regex(/^[0-9a-f]{8,64}$/), wasRunning: z.boolean(), mode: z.enum(['fd', 'exec', 'ram']).optional() });

/** The marker, or undefined when there is none or it is unreadable (a save then decides from QEMU's state alone). */
export async function readSaveMarker(path: string): Promise<SaveMarker | undefined> {
  return readJsonFile(path, saveMarkerSchema, 'save marker').catch(() => undefined);
}

export async function writeSaveMarker(path: string, m: SaveMarker): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(m), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
