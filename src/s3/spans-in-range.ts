import type { BlobSpan } from '../store/repositories/s3-repository.js';

/** Bytes [from, to] (inclusive, offsets inside the blob) of one blob. */
export interface BlobPiece { readonly blobId: string; readonly from: number; readonly to: number }

/**
 * The pieces of blobs holding bytes [start, end] (inclusive) of an object
 * made of `spans`, in order: a Range within one part reads one blob, one
 * across a part boundary reads the end of one and the start of the next.
 * Empty blobs hold nothing and are skipped.
 */
export function spansInRange(spans: readonly BlobSpan[], start: number, end: number): BlobPiece[] {
  const out: BlobPiece[] = [];
  let first = 0;
  for (const s of spans) {
    const last = first + s.size - 1;
    if (s.size > 0 && last >= start && first <= end) out.push({ blobId: s.blobId, from: Math.max(start, first) - first, to: Math.min(end, last) - first });
    first += s.size;
    if (first > end) break;
  }
  return out;
}
