import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { UnreadableFileError } from '../errors/unreadable-file-error.js';
import { errorMessage } from '../errors/nubo-error.js';

/**
 * Reads and validates a JSON file this program wrote. Only ENOENT means
 * "absent" (undefined); any other read error, bad JSON or a value the schema
 * refuses is an UnreadableFileError naming `what` and the path.
 */
export async function readJsonFile<S extends z.ZodType>(path: string, schema: S, what: string): Promise<z.output<S> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UnreadableFileError(what, path, errorMessage(err), { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UnreadableFileError(what, path, `not JSON (${errorMessage(err)})`, { cause: err });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new UnreadableFileError(what, path, `not a valid ${what}: ${issues}`);
  }
  return r.data;
}
