import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One apt source in deb822 form, as the guest's bootstrap will use it. */
export interface DebianSource {
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly components: readonly string[];
  readonly signedBy?: string;
}

export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/**
 * The host's apt sources for `release` (its suite and the `-updates`,
 * `-security` … suites of it), from one-line `.list` and deb822 `.sources`
 * files. Pure. Other repositories (a vendor's, another release's) are left
 * out: the guest must be built from Debian's archive alone, through the mirror
 * this machine is known to reach.
 */
export function debianSourcesFor(release: string, files: readonly SourceFile[]): DebianSource[] {
  const ours = (suite: string): boolean => suite === release || suite.startsWith(`${release}-`);
  const out: DebianSource[] = [];
  for (const f of files) {
    const entries = f.path.endsWith('.sources') ? parseDeb822(f.text) : parseOneLine(f.text);
    for (const e of entries) {
      const suites = e.suites.filter(ours);
      if (suites.length > 0 && e.uris.length > 0) out.push({ ...e, suites });
    }
  }
  return out;
}

/** Renders sources as one deb822 file (what mmdebstrap takes as its MIRROR argument). */
export function renderDeb822(sources: readonly DebianSource[]): string {
  return sources
    .map((s) =>
      [
        'Types: deb',
        `URIs: ${s.uris.join(' ')}`,
        `Suites: ${s.suites.join(' ')}`,
        `Components: ${s.components.join(' ')}`,
        ...(s.signedBy !== undefined ? [`Signed-By: ${s.signedBy}`] : []),
      ].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}

/** Reads /etc/apt/sources.list and sources.list.d/*.{list,sources} (files renamed to anything else are disabled, as apt treats them). */
export async function readHostSourceFiles(aptDir = '/etc/apt'): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  const read = async (path: string): Promise<void> => {
    try {
      files.push({ path, text: await readFile(path, 'utf8') });
    } catch {
      // Absent: nothing configured there.
    }
  };
  await read(join(aptDir, 'sources.list'));
  const dir = join(aptDir, 'sources.list.d');
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names.sort()) if (n.endsWith('.list') || n.endsWith('.sources')) await read(join(dir, n));
  return files;
}

function parseDeb822(text: string): DebianSource[] {
  const out: DebianSource[] = [];
  // Stanzas are separated by blank lines; '#' lines are comments; a line
  // starting with white space continues the previous field (Signed-By may
  // embed a key that way, which we keep as a path only).
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last) ?? ''}\n${line}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (!m?.[1]) continue;
      last = m[1].toLowerCase();
      fields.set(last, (m[2] ?? '').trim());
    }
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb')) continue;
    if (/^(no|false|0)$/i.test(fields.get('enabled') ?? '')) continue;
    const signedBy = fields.get('signed-by');
    out.push({
      uris: words('uris'),
      suites: words('suites'),
      components: words('components'),
      ...(signedBy !== undefined && !signedBy.includes('\n') && signedBy !== '' ? { signedBy } : {}),
    });
  }
  return out;
}

function parseOneLine(text: string): DebianSource[] {
  const out: DebianSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    // deb [ options ] uri suite [component...]
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m?.[2] || !m[3]) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    out.push({
      uris: [m[2]],
      suites: [m[3]],
      components: (m[4] ?? '').split(/\s+/).filter(Boolean),
      ...(signedBy !== undefined ? { signedBy } : {}),
    });
  }
  return out;
}
