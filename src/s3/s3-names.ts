import { invalidArgument, S3Error } from './s3-error.js';

/** S3's bucket naming rules (3-63 characters, lower-case letters, digits, dots and hyphens, no IP-address form). */
export function checkBucketName(name: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    throw new S3Error(400, 'InvalidBucketName', 'The specified bucket is not valid: 3-63 characters of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.', { bucketName: name });
  }
}

/**
 * An object key is an opaque string (never a path: blobs are named by id),
 * so `../x` and `/abs` are keys like any other; only what S3 itself refuses
 * is refused: empty, over 1024 bytes of UTF-8, and the NUL character.
 */
export function checkKey(key: string): void {
  if (key === '') throw invalidArgument('An object key must not be empty.', 'key');
  if (Buffer.byteLength(key, 'utf8') > 1024) throw new S3Error(400, 'KeyTooLongError', 'Your key is too long (more than 1024 bytes of UTF-8).');
  if (key.includes('\u0000')) throw invalidArgument('An object key must not contain the NUL character.', 'key');
}
