import { readdir } from 'node:fs/promises';
import type { Store } from '../../src/store/open-store.js';

/** Everything the S3 listener could have written (buckets, objects, uploads, blob files): equal before and after a refused request. */
export async function s3StoreSnapshot(store: Store, blobDir: string): Promise<string> {
  return JSON.stringify({
    buckets: await store.db.selectFrom('s3_buckets').selectAll().orderBy('name').execute(),
    objects: await store.db.selectFrom('s3_objects').select(['bucket', 'key', 'etag']).orderBy('bucket').orderBy('key').execute(),
    uploads: await store.db.selectFrom('s3_uploads').select('id').orderBy('id').execute(),
    files: (await readdir(blobDir)).sort(),
  });
}
