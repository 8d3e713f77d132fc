import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/**
 * The state file's format 2 (docs/suspend.md): one file, so that whatever
 * copies `memory.state` (stop/resume, cold migration, transfers) keeps working
 * unchanged —
 *
 *   [RAM_STATE_HEADER_BYTES header][guest RAM image, sparse][QEMU's device stream]
 *
 * The guest's RAM is copied by nubo (the fd sender's `ram-save`, O_DIRECT, in
 * parallel) from QEMU's memfd, and QEMU streams only its device state (the
 * `x-ignore-shared` capability). The header is written last, after the rest is
 * on the disk: a file without a valid, complete header is never taken as
 * whole. A file that does not start with the magic is QEMU's own stream
 * (`QEVM`, format 1), resumed as before.
 */
export const RAM_STATE_MAGIC = Buffer.from('NUBORAM\0', 'latin1');
export const RAM_STATE_VERSION = 2;
/** The header's room: the RAM image starts one page in, so that its O_DIRECT copies stay aligned. */
export const RAM_STATE_HEADER_BYTES = 4096;
const FLAG_COMPLETE = 1;
/** Bytes of the header covered by its digest (the fields), then the digest's 32 bytes. */
const FIELDS_BYTES = 56;

export interface RamStateHeader {
  readonly ramBytes: number;
  /** Where the RAM image starts (RAM_STATE_HEADER_BYTES). */
  readonly ramOffset: number;
  /** Where QEMU's device stream starts: ramOffset + ramBytes. */
  readonly devOffset: number;
  readonly devBytes: number;
  /** RAM bytes actually copied (the memfd's data ranges; holes stay holes). */
  readonly storedRamBytes: number;
}

/** The layout of a state file for `ramBytes` of guest RAM (devBytes and storedRamBytes not known yet). */
export function ramStateLayout(ramBytes: number): { readonly ramOffset: number; readonly devOffset: number } {
  return { ramOffset: RAM_STATE_HEADER_BYTES, devOffset: RAM_STATE_HEADER_BYTES + ramBytes };
}

/** The complete header's bytes (one page: written with one pwrite). */
export function encodeRamStateHeader(h: RamStateHeader): Buffer {
  const b = Buffer.alloc(RAM_STATE_HEADER_BYTES);
  RAM_STATE_MAGIC.copy(b, 0);
  b.writeUInt32LE(RAM_STATE_VERSION, 8);
  b.writeUInt32LE(FLAG_COMPLETE, 12);
  b.writeBigUInt64LE(BigInt(h.ramBytes), 16);
  b.writeBigUInt64LE(BigInt(h.ramOffset), 24);
  b.writeBigUInt64LE(BigInt(h.devOffset), 32);
  b.writeBigUInt64LE(BigInt(h.devBytes), 40);
  b.writeBigUInt64LE(BigInt(h.storedRamBytes), 48);
  createHash('sha256').update(b.subarray(0, FIELDS_BYTES)).digest().copy(b, FIELDS_BYTES);
  return b;
}

export type RamStateHeaderRead =
  | { readonly kind: 'qemu' }
  | { readonly kind: 'v2'; readonly header: RamStateHeader }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * What the first page of a state file says: not format 2 (`qemu`: QEMU's own
 * stream), a whole format-2 file, or one with the magic whose header is not
 * valid or complete, or whose file is shorter than it says (`invalid`: never
 * resumed from, never committed).
 */
export function decodeRamStateHeader(b: Buffer, fileBytes: number): RamStateHeaderRead {
  if (b.length < RAM_STATE_MAGIC.length || !b.subarray(0, RAM_STATE_MAGIC.length).equals(RAM_STATE_MAGIC)) return { kind: 'qemu' };
  if (b.length < RAM_STATE_HEADER_BYTES) return { kind: 'invalid', reason: 'the header is cut short' };
  const digest = createHash('sha256').update(b.subarray(0, FIELDS_BYTES)).digest();
  if (!digest.equals(b.subarray(FIELDS_BYTES, FIELDS_BYTES + 32))) return { kind: 'invalid', reason: 'the header\'s digest does not match' };
  const version = b.readUInt32LE(8);
  if (version !== RAM_STATE_VERSION) return { kind: 'invalid', reason: `format version ${version} is not known` };
  if ((b.readUInt32LE(12) & FLAG_COMPLETE) === 0) return { kind: 'invalid', reason: 'the header is not marked complete' };
  const n = (at: number): number => Number(b.readBigUInt64LE(at));
  const h: RamStateHeader = { ramBytes: n(16), ramOffset: n(24), devOffset: n(32), devBytes: n(40), storedRamBytes: n(48) };
  if (h.ramOffset !== RAM_STATE_HEADER_BYTES || h.devOffset !== h.ramOffset + h.ramBytes || h.ramBytes % 4096 !== 0) return { kind: 'invalid', reason: 'the header\'s layout is not one nubo writes' };
  if (h.devBytes <= 0) return { kind: 'invalid', reason: 'no device state' };
  if (fileBytes < h.devOffset + h.devBytes) return { kind: 'invalid', reason: `the file has ${fileBytes} bytes, the header says ${h.devOffset + h.devBytes}` };
  return { kind: 'v2', header: h };
}

/** Reads and decodes a state file's header (decodeRamStateHeader). */
export async function readRamStateHeader(path: string): Promise<RamStateHeaderRead> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(RAM_STATE_HEADER_BYTES);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    return decodeRamStateHeader(b.subarray(0, bytesRead), (await fh.stat()).size);
  } finally {
    await fh.close();
  }
}
