import Table from 'cli-table3';

/** Shared output of the resource commands: borderless tables, key/value blocks, JSON, and value formats. */

const colors = (): boolean => process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined;

/** A borderless, compact table (kubectl-like), header in bold on a TTY and plain otherwise. */
export function renderTable(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const t = new Table({
    head: [...head],
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: colors() ? ['bold'] : [], border: [], compact: true },
  });
  for (const r of rows) t.push(r.map(String));
  return `${t.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`;
}

export function printTable(head: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  process.stdout.write(rows.length === 0 ? '(none)\n' : renderTable(head, rows));
}

/** One resource as `key  value` lines. */
export function printFields(fields: readonly (readonly [string, string | number])[]): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  process.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`.trimEnd()).join('\n') + '\n');
}

/** The API's JSON, as the client received it. */
export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

/** `-` for null, undefined and ''. */
export function dash(v: string | number | null | undefined): string {
  return v === null || v === undefined || v === '' ? '-' : String(v);
}

/** 1536 → "1.5 GiB", 512 → "512 MiB". */
export function fmtMiB(mib: number): string {
  return mib >= 1024 ? `${trim(mib / 1024)} GiB` : `${trim(mib)} MiB`;
}

export function fmtBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : trim(v)} ${units[i]}`;
}

/** How long ago an ISO time was: "4s ago", "3m ago", "2h ago", "5d ago"; "never" for null. */
export function fmtAge(iso: string | null, now: number = Date.now()): string {
  if (iso === null) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** An ISO time as "2024-05-01 12:00:03" (UTC), for tables. */
export function fmtTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

function trim(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}
