import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { extract, type ReadEntry } from 'tar';
import { NuboError } from '../../errors/nubo-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { deadline } from '../../util/deadline.js';
import { OvfError } from './ovf-error.js';
import { isPackageMemberName } from './package-member-name.js';

export interface OvaContents {
  /** The .ovf descriptor: the archive's first member. */
  readonly descriptor: string;
  /** The .mf manifest, if the package has one. */
  readonly manifest?: string;
  /** Every member, in archive order. */
  readonly members: readonly string[];
}

const REGULAR = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Unpacks an OVA (a tar whose first member is the .ovf descriptor) into
 * `dir`. Only plain files with plain names are accepted — no directories,
 * links or paths — so nothing lands outside `dir`; a truncated or garbled
 * archive is an OvfError, as is one that does not start with the descriptor.
 * What was written before a failure stays in `dir` for the caller to remove.
 */
export async function extractOva(ova: string, dir: string, opts: WaitOptions = {}): Promise<OvaContents> {
  const members: string[] = [];
  const d = deadline(`unpacking ${ova}`, opts.timeoutMs ?? 30 * 60_000, opts.signal);
  const source = createReadStream(ova);
  const refuse = (reason: string): false => {
    source.destroy(new OvfError('', reason));
    return false;
  };
  const check = (path: string, entry: ReadEntry): boolean => {
    const name = path.replace(/^(\.\/)+/, '');
    if (!REGULAR.has(entry.type)) return refuse(`member ${JSON.stringify(path)} is a ${entry.type}; an OVA holds plain files only`);
    if (!isPackageMemberName(name)) return refuse(`member ${JSON.stringify(path)} is not a plain file name`);
    if (members.includes(name)) return refuse(`member ${name} appears twice`);
    if (members.length === 0 && !/\.ovf$/i.test(name)) return refuse(`the first member must be the .ovf descriptor, not ${name}`);
    members.push(name);
    return true;
  };
  try {
    await pipeline(
      source,
      // preserveOwner off: as root, tar would otherwise give the files the archive's uids.
      extract({ cwd: dir, strict: true, preserveOwner: false, noMtime: true, filter: (p, e) => check(p, e as ReadEntry) }),
      { signal: d.signal },
    );
  } catch (err) {
    if (err instanceof OvfError) throw err;
    if (d.signal.aborted) throw d.signal.reason instanceof Error ? d.signal.reason : err;
    if (!(err instanceof NuboError) && typeof (err as { code?: unknown }).code === 'string' && String((err as { code: string }).code).startsWith('TAR_')) {
      throw new OvfError('', `not a valid OVA (tar) archive: ${(err as Error).message.replace(/^TAR_\w+: /, '')}`, { cause: err });
    }
    throw err;
  } finally {
    d.dispose();
  }
  const descriptor = members[0];
  if (descriptor === undefined) throw new OvfError('', 'not a valid OVA (tar) archive: it has no members');
  const manifest = members.find((m) => m.toLowerCase() === `${descriptor.slice(0, -4).toLowerCase()}.mf`);
  return { descriptor, members, ...(manifest !== undefined ? { manifest } : {}) };
}
