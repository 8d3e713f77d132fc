import { lstat, realpath, stat } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import { ValidationError, type FieldIssue } from '../errors/validation-error.js';
import { specPaths, type VmSpec } from './vm-spec.js';

/**
 * Every file a VM uses must exist and lie inside one of the driver's allowed
 * directories (its datastores and image cache), judged after resolving
 * symlinks — so a spec cannot make QEMU open /etc/shadow or another host's
 * disks. Reports every offending field at once.
 */
export async function checkSpecFiles(spec: VmSpec, allowedDirs: readonly string[]): Promise<void> {
  const roots = await resolveRoots(allowedDirs);
  const issues: FieldIssue[] = [];
  for (const { field, path } of specPaths(spec)) {
    const issue = await checkOne(field, path, roots, 'file');
    if (issue) issues.push(issue);
  }
  if (spec.consoleLog !== undefined) {
    // QEMU appends to it, making it when it is not there yet: an existing one is checked like any file (a link out of
    // the allowed directories would have QEMU write there), else the directory it is made in.
    const exists = await lstat(spec.consoleLog).then(() => true, () => false);
    const issue = exists ? await checkOne('consoleLog', spec.consoleLog, roots, 'file') : await checkOne('consoleLog', dirname(spec.consoleLog), roots, 'directory');
    if (issue) issues.push(issue);
  }
  if (issues.length > 0) throw new ValidationError('VM spec', issues);
}

/** A disk about to be hot-plugged: errors name the request's own `path` field. */
export async function checkDiskFile(path: string, allowedDirs: readonly string[]): Promise<void> {
  const issue = await checkOne('path', path, await resolveRoots(allowedDirs), 'file');
  if (issue) throw new ValidationError('disk spec', [issue]);
}

/** For a file the driver is about to write (saved state): its directory must exist and be allowed. */
export async function checkWritablePath(field: string, path: string, allowedDirs: readonly string[]): Promise<void> {
  const roots = await resolveRoots(allowedDirs);
  if (!/^\/[A-Za-z0-9._/+@-]*$/.test(path) || path.split('/').includes('..')) {
    throw new ValidationError('path', [{ field, message: 'must be an absolute path of letters, digits and ._/+@-' }]);
  }
  const issue = await checkOne(field, dirname(path), roots, 'directory');
  if (issue) throw new ValidationError('path', [issue]);
}

async function resolveRoots(allowedDirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of allowedDirs) {
    try {
      out.push(await realpath(d));
    } catch {
      // A datastore that does not exist yet allows nothing.
    }
  }
  return out;
}

async function checkOne(field: string, path: string, roots: readonly string[], kind: 'file' | 'directory'): Promise<FieldIssue | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return { field, message: `${kind} ${path} does not exist` };
  }
  if (!roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep))) {
    return { field, message: `${path} is outside the allowed directories` };
  }
  const st = await stat(real);
  if (kind === 'file' && !st.isFile()) return { field, message: `${path} is not a regular file` };
  if (kind === 'directory' && !st.isDirectory()) return { field, message: `${path} is not a directory` };
  return undefined;
}
