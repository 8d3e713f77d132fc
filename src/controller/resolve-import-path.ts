import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { ValidationError } from '../errors/validation-error.js';

/** A file an admin named on the controller's machine, and the import directory it lies in, both real paths. */
export interface ImportPath {
  readonly path: string;
  readonly dir: string;
}

/**
 * The real path of a file an admin names (an image to register, a package to
 * import), if it lies in the controller's import directory (`--image-import-dir`).
 * Resolved with realpath, so neither `..` nor a symlink leads out of it: the
 * controller's database, /etc/shadow and the like are never published to
 * every tenant. Anything else is a 400 naming `path`.
 */
export async function resolveImportPath(importDir: string | undefined, path: string, what: string): Promise<ImportPath> {
  const refuse = (why: string): never => {
    throw new ValidationError(what, [{ field: 'path', message: `${path}: ${why}` }]);
  };
  if (importDir === undefined) return refuse('reading files of the controller\'s machine is off (no --image-import-dir): upload the file instead');
  const dir = await realpath(importDir).catch(() => refuse(`the import directory ${importDir} does not exist`));
  const real = await realpath(path).catch((err: unknown) => refuse(`cannot read it: ${(err as Error).message}`));
  if (!isWithin(dir, real)) return refuse(`not in the import directory ${importDir} (symlinks and .. are resolved)`);
  return { path: real, dir };
}

/** Whether the real path `real` is `dir` or lies below it. */
export function isWithin(dir: string, real: string): boolean {
  const rel = relative(dir, real);
  return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}
