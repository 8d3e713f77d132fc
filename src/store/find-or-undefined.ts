import { NotFoundError } from './store-errors.js';

/**
 * A lookup that may find nothing: the row, or undefined when the store says
 * NotFound. Any other failure (the database is gone, locked, corrupt) is not
 * "absent" and propagates — reading it as absent would turn an outage into
 * wrong answers (a 404, a name lookup instead of an id, a copy released).
 */
export async function findOrUndefined<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
