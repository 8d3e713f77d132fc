import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { decodeRamStateHeader, encodeRamStateHeader, RAM_STATE_HEADER_BYTES, ramStateLayout, readRamStateHeader } from './ram-state-header.js';

const MiB = 1024 * 1024;
const layout = ramStateLayout(256 * MiB);
const header = { ramBytes: 256 * MiB, ...layout, devBytes: 411_366, storedRamBytes: 160 * MiB };
const whole = layout.devOffset + header.devBytes;

test('the layout: RAM one page in (O_DIRECT-aligned), the device stream right after it', () => {
  assert.deepEqual(layout, { ramOffset: 4096, devOffset: 4096 + 256 * MiB });
});

test('a header reads back as written, for a file as long as it says', () => {
  const b = encodeRamStateHeader(header);
  assert.equal(b.length, RAM_STATE_HEADER_BYTES);
  assert.equal(b.subarray(0, 8).toString('latin1'), 'NUBORAM\0');
  assert.deepEqual(decodeRamStateHeader(b, whole), { kind: 'v2', header });
  assert.deepEqual(decodeRamStateHeader(b, whole + 10), { kind: 'v2', header });
});

test('QEMU\'s own stream (QEVM) and an empty file are format 1, not format 2', () => {
  assert.deepEqual(decodeRamStateHeader(Buffer.from('QEVM\0\0\0\x03rest', 'latin1'), 1000), { kind: 'qemu' });
  assert.deepEqual(decodeRamStateHeader(Buffer.alloc(0), 0), { kind: 'qemu' });
});

test('never whole: a file shorter than its header says, a changed field, a header not marked complete, or cut short', () => {
  const b = encodeRamStateHeader(header);
  const short = decodeRamStateHeader(b, whole - 1);
  assert.equal(short.kind, 'invalid');
  assert.match(short.kind === 'invalid' ? short.reason : '', /the file has/);
  const changed = Buffer.from(b);
  changed.writeBigUInt64LE(BigInt(1), 40);
  assert.deepEqual(decodeRamStateHeader(changed, whole), { kind: 'invalid', reason: 'the header\'s digest does not match' });
  // Not complete, its digest right: written by something that never finished.
  const incomplete = Buffer.from(b);
  incomplete.writeUInt32LE(0, 12);
  createHash('sha256').update(incomplete.subarray(0, 56)).digest().copy(incomplete, 56);
  assert.deepEqual(decodeRamStateHeader(incomplete, whole), { kind: 'invalid', reason: 'the header is not marked complete' });
  assert.equal(decodeRamStateHeader(b.subarray(0, 100), whole).kind, 'invalid');
  // A layout nubo never writes (the device stream elsewhere) is refused even with a good digest.
  assert.equal(decodeRamStateHeader(encodeRamStateHeader({ ...header, devOffset: header.devOffset + 4096 }), whole + 4096).kind, 'invalid');
  assert.equal(decodeRamStateHeader(encodeRamStateHeader({ ...header, devBytes: 0 }), whole).kind, 'invalid');
});

test('readRamStateHeader reads a file\'s first page and its size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-ramhdr-'));
  try {
    const path = join(dir, 'memory.state');
    await writeFile(path, encodeRamStateHeader(header));
    await truncate(path, whole);
    assert.deepEqual(await readRamStateHeader(path), { kind: 'v2', header });
    await truncate(path, whole - 4096);
    assert.equal((await readRamStateHeader(path)).kind, 'invalid');
    await writeFile(path, 'QEVM');
    assert.deepEqual(await readRamStateHeader(path), { kind: 'qemu' });
    await assert.rejects(readRamStateHeader(join(dir, 'none')), /ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
