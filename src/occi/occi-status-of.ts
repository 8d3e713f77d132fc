import { NuboError } from '../errors/nubo-error.js';
import { OcciError } from './occi-error.js';

/** Anything with a `status` the native API answered with (RemoteError) or ours. */
export const statusOf = (err: unknown): number => {
  if (err instanceof OcciError) return err.status;
  if (err instanceof NuboError && typeof (err as { status?: unknown }).status === 'number') return (err as unknown as { status: number }).status;
  if (err instanceof NuboError && err.code === 'UNAUTHORIZED') return 401;
  return 500;
};
