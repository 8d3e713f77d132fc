import { rename, rm, writeFile } from 'node:fs/promises';

/** Writes `data` to `path` through a temporary file and a rename: a reader sees the old file or the new one. */
export async function writeFileAtomically(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
