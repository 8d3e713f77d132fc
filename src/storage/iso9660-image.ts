import { ValidationError } from '../errors/validation-error.js';
import type { FieldIssue } from '../errors/validation-error.js';

export interface IsoFile {
  /** The name readers show (Rock Ridge and Joliet): 1-64 characters of letters, digits, ".", "_" or "-". */
  readonly name: string;
  readonly data: Buffer;
}

export interface IsoImageOptions {
  /** Volume label, 1-16 characters (Joliet's limit); `blkid`/`findfs` read it from either descriptor. */
  readonly volumeId: string;
  /** Recorded as every date; fixed by tests so that one input gives one image. */
  readonly now?: Date;
}

const SECTOR = 2048;
// Sector map: 16 PVD, 17 Joliet SVD, 18 terminator, 19/20 primary L/M path tables,
// 21/22 Joliet L/M path tables, 23 primary root, 24 Joliet root, then file data.
const PVD = 16, JOLIET = 17, TERMINATOR = 18, PATH_L = 19, PATH_M = 20, JPATH_L = 21, JPATH_M = 22, ROOT = 23, JROOT = 24, DATA = 25;
const PADDING = 150;
const PATH_TABLE_BYTES = 10; // one entry: the root
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const VOLUME = /^[A-Za-z0-9._-]{1,16}$/;
const MAX_FILES = 10; // with names of up to 64 characters, every directory (primary and Joliet) still fits its one sector

/**
 * An ISO 9660 image of one flat directory, built in memory: the primary
 * volume with Rock Ridge names and modes (what `isoinfo -R`, and Linux
 * without Joliet, read) and a Joliet volume (what Linux prefers when there is
 * no Rock Ridge "ER" record, and what Windows' cloudbase-init reads). Made for
 * the config drive, whose three small files used to cost a `genisoimage`
 * spawn per VM: at ten provisions at once on a loaded host that spawn was the
 * largest part of the control plane's overhead.
 */
export function buildIso9660Image(files: readonly IsoFile[], o: IsoImageOptions): Buffer {
  validate(files, o);
  const now = o.now ?? new Date();
  const primaryNames = shortNames(files.map((f) => f.name));
  let next = DATA;
  const placed = files.map((f, i) => {
    const lba = next;
    next += Math.ceil(f.data.length / SECTOR);
    return { ...f, lba, primary: primaryNames[i]! };
  });
  // 150 sectors of zeros after the data, as genisoimage pads by default: nubo-tiny's busybox `findfs` found no
  // label on the unpadded 56 KiB image (its probe reads the first 68 KiB of a device in one go).
  const total = next + PADDING;
  const img = Buffer.alloc(total * SECTOR);

  const rootSelf = (joliet: boolean): Buffer => dirRecord({ lba: joliet ? JROOT : ROOT, size: SECTOR, dir: true, name: Buffer.from([0]), now, su: joliet ? undefined : Buffer.concat([sp(), px(0o40555, 2)]) });
  const rootParent = (joliet: boolean): Buffer => dirRecord({ lba: joliet ? JROOT : ROOT, size: SECTOR, dir: true, name: Buffer.from([1]), now, su: joliet ? undefined : px(0o40555, 2) });

  // Primary directory: sorted by its ISO names, each with Rock Ridge's real name.
  const primary = [...placed].sort((a, b) => cmp(a.primary, b.primary)).map((f) => dirRecord({
    lba: f.lba, size: f.data.length, dir: false, name: Buffer.from(`${f.primary};1`, 'latin1'), now,
    su: Buffer.concat([px(0o100444, 1), nm(f.name)]),
  }));
  writeDirectory(img, ROOT, [rootSelf(false), rootParent(false), ...primary]);
  const joliet = [...placed].sort((a, b) => cmp(a.name, b.name)).map((f) => dirRecord({
    lba: f.lba, size: f.data.length, dir: false, name: ucs2(f.name), now,
  }));
  writeDirectory(img, JROOT, [rootSelf(true), rootParent(true), ...joliet]);

  for (const f of placed) f.data.copy(img, f.lba * SECTOR);
  // The descriptors hold the root's record in its bare 34-byte form; System Use entries live in the directory only.
  const bareRoot = (lba: number): Buffer => dirRecord({ lba, size: SECTOR, dir: true, name: Buffer.from([0]), now });
  writeVolumeDescriptor(img, PVD, { joliet: false, volumeId: o.volumeId, total, now, root: bareRoot(ROOT) });
  writeVolumeDescriptor(img, JOLIET, { joliet: true, volumeId: o.volumeId, total, now, root: bareRoot(JROOT) });
  const term = TERMINATOR * SECTOR;
  img[term] = 255;
  img.write('CD001', term + 1, 'latin1');
  img[term + 6] = 1;
  writePathTables(img, PATH_L, PATH_M, ROOT);
  writePathTables(img, JPATH_L, JPATH_M, JROOT);
  return img;
}

function validate(files: readonly IsoFile[], o: IsoImageOptions): void {
  const issues: FieldIssue[] = [];
  if (!VOLUME.test(o.volumeId)) issues.push({ field: 'volumeId', message: `"${o.volumeId}" must be 1-16 letters, digits, ".", "_" or "-"` });
  if (files.length > MAX_FILES) issues.push({ field: 'files', message: `at most ${MAX_FILES} files (got ${files.length}): the directory must fit one sector` });
  const seen = new Set<string>();
  files.forEach((f, i) => {
    if (!NAME.test(f.name)) issues.push({ field: `files.${i}.name`, message: `"${f.name}" must be 1-64 letters, digits, ".", "_" or "-"` });
    else if (seen.has(f.name)) issues.push({ field: `files.${i}.name`, message: `"${f.name}" appears twice` });
    seen.add(f.name);
  });
  if (issues.length > 0) throw new ValidationError('ISO 9660 image', issues);
}

/** Level-1 (8.3, upper-case d-characters) names, made unique by a numeric tail where two would clash. */
function shortNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((n, i) => {
    const dot = n.lastIndexOf('.');
    const clean = (s: string, max: number): string => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, max);
    const ext = dot > 0 ? clean(n.slice(dot + 1), 3) : '';
    let base = clean(dot > 0 ? n.slice(0, dot) : n, 8) || '_';
    if (used.has(`${base}.${ext}`)) base = `${base.slice(0, 8 - String(i).length - 1)}_${i}`;
    used.add(`${base}.${ext}`);
    return `${base}.${ext}`;
  });
}

interface RecordInput { lba: number; size: number; dir: boolean; name: Buffer; now: Date; su?: Buffer | undefined }

function dirRecord(r: RecordInput): Buffer {
  const pad = r.name.length % 2 === 0 ? 1 : 0;
  const su = r.su ?? Buffer.alloc(0);
  let len = 33 + r.name.length + pad + su.length;
  len += len % 2;
  const b = Buffer.alloc(len);
  b[0] = len;
  both32(b, 2, r.lba);
  both32(b, 10, r.size);
  recordDate(b, 18, r.now);
  b[25] = r.dir ? 2 : 0;
  both16(b, 28, 1);
  b[32] = r.name.length;
  r.name.copy(b, 33);
  su.copy(b, 33 + r.name.length + pad);
  return b;
}

function writeDirectory(img: Buffer, lba: number, records: readonly Buffer[]): void {
  let at = lba * SECTOR;
  for (const r of records) {
    r.copy(img, at);
    at += r.length;
  }
}

function writeVolumeDescriptor(img: Buffer, lba: number, d: { joliet: boolean; volumeId: string; total: number; now: Date; root: Buffer }): void {
  const at = lba * SECTOR;
  img[at] = d.joliet ? 2 : 1;
  img.write('CD001', at + 1, 'latin1');
  img[at + 6] = 1;
  const text = (off: number, len: number, s: string): void => {
    if (d.joliet) {
      const u = ucs2(s.padEnd(len / 2, ' '));
      u.copy(img, at + off, 0, len);
    } else {
      img.write(s.padEnd(len, ' '), at + off, len, 'latin1');
    }
  };
  text(8, 32, '');
  text(40, 32, d.volumeId);
  both32(img, at + 80, d.total);
  // Joliet level 3 (UCS-2) escape sequence.
  if (d.joliet) img.write('%/E', at + 88, 'latin1');
  both16(img, at + 120, 1);
  both16(img, at + 124, 1);
  both16(img, at + 128, SECTOR);
  both32(img, at + 132, PATH_TABLE_BYTES);
  img.writeUInt32LE(d.joliet ? JPATH_L : PATH_L, at + 140);
  img.writeUInt32BE(d.joliet ? JPATH_M : PATH_M, at + 148);
  d.root.copy(img, at + 156);
  text(190, 128, '');
  text(318, 128, '');
  text(446, 128, '');
  text(574, 128, 'NUBO');
  text(702, 37, '');
  text(739, 37, '');
  text(776, 37, '');
  volumeDate(img, at + 813, d.now);
  volumeDate(img, at + 830, d.now);
  volumeDate(img, at + 847, undefined);
  volumeDate(img, at + 864, undefined);
  img[at + 881] = 1;
}

function writePathTables(img: Buffer, lLba: number, mLba: number, rootLba: number): void {
  for (const [lba, le] of [[lLba, true], [mLba, false]] as const) {
    const at = lba * SECTOR;
    img[at] = 1; // the root's identifier is one 0 byte
    if (le) {
      img.writeUInt32LE(rootLba, at + 2);
      img.writeUInt16LE(1, at + 6);
    } else {
      img.writeUInt32BE(rootLba, at + 2);
      img.writeUInt16BE(1, at + 6);
    }
  }
}

/** SUSP "SP": marks the start of System Use entries (root's "." only). */
const sp = (): Buffer => Buffer.from([0x53, 0x50, 7, 1, 0xbe, 0xef, 0]);

/** Rock Ridge "PX" (RRIP 1.10 form): mode, links, uid 0, gid 0. */
function px(mode: number, links: number): Buffer {
  const b = Buffer.alloc(36);
  b.write('PX', 0, 'latin1');
  b[2] = 36;
  b[3] = 1;
  both32(b, 4, mode);
  both32(b, 12, links);
  return b;
}

/** Rock Ridge "NM": the real name. */
function nm(name: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  return Buffer.concat([Buffer.from([0x4e, 0x4d, 5 + n.length, 1, 0]), n]);
}

function ucs2(s: string): Buffer {
  const b = Buffer.from(s, 'utf16le');
  return b.swap16();
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function both16(b: Buffer, at: number, v: number): void {
  b.writeUInt16LE(v, at);
  b.writeUInt16BE(v, at + 2);
}

function both32(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v, at);
  b.writeUInt32BE(v, at + 4);
}

/** Directory record date: 7 bytes, UTC. */
function recordDate(b: Buffer, at: number, d: Date): void {
  b[at] = d.getUTCFullYear() - 1900;
  b[at + 1] = d.getUTCMonth() + 1;
  b[at + 2] = d.getUTCDate();
  b[at + 3] = d.getUTCHours();
  b[at + 4] = d.getUTCMinutes();
  b[at + 5] = d.getUTCSeconds();
  b[at + 6] = 0;
}

/** Volume descriptor date: 16 digits and a zone byte; "not specified" is all '0' digits. */
function volumeDate(b: Buffer, at: number, d: Date | undefined): void {
  const p = (n: number, w: number): string => String(n).padStart(w, '0');
  const s = d === undefined ? '0'.repeat(16)
    : `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1, 2)}${p(d.getUTCDate(), 2)}${p(d.getUTCHours(), 2)}${p(d.getUTCMinutes(), 2)}${p(d.getUTCSeconds(), 2)}${p(Math.floor(d.getUTCMilliseconds() / 10), 2)}`;
  b.write(s, at, 'latin1');
  b[at + 16] = 0;
}
