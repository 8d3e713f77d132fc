import { z } from 'zod';

/** The largest volume: 1 TiB. */
export const MAX_VOLUME_MIB = 1024 * 1024;

/** A volume's name: the store admits it and the native API validates it, so both take it from here. */
export const volumeNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 chars of a-z, 0-9 and - (a name, not a path)');
