import { z } from 'zod';

export const SNAPSHOT_NAME_MAX = 64;
const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Why `name` cannot name a disk snapshot, or undefined when it can. A name is
 * a qcow2 snapshot tag and travels in URL paths and on command lines, so it is
 * kept to a plain, portable word: anything that reads as a path is refused
 * with a reason of its own, since that is what an attempt to reach another
 * file looks like.
 */
export function snapshotNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (/[/\\]/.test(name) || name.includes('..') || name === '.') return 'must be a plain name, not a path';
  if (name.length > SNAPSHOT_NAME_MAX) return `must be at most ${SNAPSHOT_NAME_MAX} characters`;
  if (!SNAPSHOT_NAME.test(name)) return 'must start with a letter or digit and hold only letters, digits, ".", "_" and "-"';
  return undefined;
}

/** A snapshot name in a request (body or path): one issue with one reason, whatever is wrong with it. */
export const snapshotNameSchema = z
  .string()
  .superRefine((s, ctx) => {
    const problem = snapshotNameProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: `1-${SNAPSHOT_NAME_MAX} characters: letters, digits, ".", "_" and "-", starting with a letter or digit; not a path (no "/", "\\" or "..")`,
    pattern: SNAPSHOT_NAME.source,
    minLength: 1,
    maxLength: SNAPSHOT_NAME_MAX,
  });
