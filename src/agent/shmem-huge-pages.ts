import { readFile } from 'node:fs/promises';

export const SHMEM_ENABLED = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';

/**
 * What the agent says at start about the kernel's huge-page policy for shared memory, where guest RAM lives (a memfd:
 * docs/suspend.md): `never` or `deny` leave every guest on 4 KiB pages — slower guests under KVM, slower loads of a
 * resume or a migration's destination. Undefined when the policy gives guest RAM huge pages (advise, always,
 * within_size, force) or cannot be read (not Linux, no THP: nothing the operator can change here).
 */
export async function shmemHugePagesWarning(path = SHMEM_ENABLED): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  // The file lists every policy with the current one in brackets: "always within_size advise [never] deny force".
  const policy = text === undefined ? undefined : /\[([a-z_]+)\]/.exec(text)?.[1];
  if (policy !== 'never' && policy !== 'deny') return undefined;
  return `${path} is [${policy}]: guest RAM (shared memory) gets no transparent huge pages, so guests run on 4 KiB pages ` +
    `(slower under KVM, slower resumes and migrations); \`echo advise > ${path}\` (scripts/install-deps.sh does, also at boot) gives them to guest RAM alone`;
}
