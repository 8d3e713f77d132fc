import { z } from 'zod';
import { ValidationError } from '../errors/validation-error.js';

/**
 * Validates a repository's input before anything is written; throws one
 * ValidationError naming every bad field (dotted path).
 */
export function validateInput<S extends z.ZodType>(what: string, schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new ValidationError(what, r.error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(root)', message: i.message })));
}

/** Shared field rules. */
export const fields = {
  id: z.string().min(1).max(64),
  name: z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, . _ - (not first)'),
  count: z.number().int().nonnegative().max(2 ** 31 - 1),
  mib: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  positiveCount: z.number().int().min(1).max(2 ** 31 - 1),
  positiveMib: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  bytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  jsonObject: z.record(z.string(), z.json()),
  jsonArray: z.array(z.json()),
  path: z.string().min(1).max(4096),
};
