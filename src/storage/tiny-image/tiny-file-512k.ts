/** Size of the guest's /file-512k. */
export const TINY_FILE_SIZE = 512 * 1024;

const LINE = 64;

/**
 * The exact bytes the guest serves as /file-512k: 8192 lines of 64 bytes, each
 * starting with its own offset in hex. A client can compare byte for byte, and
 * a truncated, shifted or mixed-up transfer shows where it went wrong.
 */
export function tinyFile512k(): Buffer {
  const buf = Buffer.alloc(TINY_FILE_SIZE);
  for (let off = 0; off < TINY_FILE_SIZE; off += LINE) {
    const line = `${off.toString(16).padStart(8, '0')} nubo-tiny test file`.padEnd(LINE - 1, '.') + '\n';
    buf.write(line, off, 'latin1');
  }
  return buf;
}
