import { join } from 'node:path';
import { fileDigest, type DigestAlgorithm } from '../file-digest.js';
import { OvfError } from './ovf-error.js';
import { isPackageMemberName } from './package-member-name.js';

export interface ManifestEntry {
  readonly algorithm: DigestAlgorithm;
  readonly file: string;
  /** Lowercase hex. */
  readonly digest: string;
}

const LINE = /^(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)$/;
const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha1: 40, sha256: 64, sha512: 128 };

/**
 * Reads an OVF manifest (.mf): one `SHA256(file)= hex` line per file, as
 * VMware writes it, or `SHA1 (file) = hex` as VirtualBox does. `name` is the
 * manifest's own name, for messages.
 */
export function parseOvfManifest(text: string, name: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new OvfError(`${name} line ${i + 1}`, `not a manifest line (ALGORITHM(file)= digest): ${JSON.stringify(line.slice(0, 80))}`);
    const algorithm = m[1]!.toLowerCase() as DigestAlgorithm;
    const digest = m[3]!.toLowerCase();
    if (digest.length !== HEX_LENGTH[algorithm]) throw new OvfError(`${name} line ${i + 1}`, `a ${m[1]} digest has ${HEX_LENGTH[algorithm]} hex digits, not ${digest.length}`);
    const file = m[2]!.trim();
    if (!isPackageMemberName(file)) throw new OvfError(`${name} line ${i + 1}`, `${JSON.stringify(file)} is not a file of the package`);
    out.push({ algorithm, file, digest });
  }
  return out;
}

/** A manifest for the files in `dir`, SHA256, in the given order. */
export async function formatOvfManifest(dir: string, files: readonly string[], signal?: AbortSignal): Promise<string> {
  const lines: string[] = [];
  for (const f of files) lines.push(`SHA256(${f})= ${await fileDigest(join(dir, f), 'sha256', signal)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Checks every file of `required` against the manifest: each must be listed
 * and its digest must match; the manifest naming a file that is not there is
 * an error too. Throws OvfError naming the file.
 */
export async function verifyOvfManifest(dir: string, entries: readonly ManifestEntry[], required: readonly string[], name: string, signal?: AbortSignal): Promise<void> {
  for (const f of required) {
    if (!entries.some((e) => e.file === f)) throw new OvfError(name, `has no digest for ${f}`);
  }
  for (const e of entries) {
    const actual = await fileDigest(join(dir, e.file), e.algorithm, signal).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OvfError(name, `lists ${e.file}, which is not in the package`);
      throw err;
    });
    if (actual !== e.digest) throw new OvfError(name, `${e.algorithm.toUpperCase()} digest of ${e.file} does not match: the manifest says ${e.digest}, the file has ${actual}`);
  }
}
