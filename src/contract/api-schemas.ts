import { z } from 'zod';

/**
 * The native REST API's shapes (`/api/v1`), shared by the controller's routes
 * (validation, OpenAPI) and the typed client the CLI uses, one file per
 * resource beside this one. Requests are strict: an unknown field is an error
 * naming it, not something silently dropped. Here: what every resource uses.
 */

/** A name of an image, template, VM or network. */
export const resourceNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 chars of letters, digits and ._-, starting with a letter or digit');
/** An id (or name) in a path. */
export const resourceIdSchema = z.string().min(1).max(64);
export const idParams = z.object({ id: resourceIdSchema });

export const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }),
});
