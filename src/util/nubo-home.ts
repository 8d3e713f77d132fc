import { homedir } from 'node:os';
import { join } from 'node:path';

/** Root of nubo's local state: `$NUBO_HOME`, else `~/.nubo`. */
export function nuboHome(env: NodeJS.ProcessEnv = process.env): string {
  return env['NUBO_HOME'] ?? join(homedir(), '.nubo');
}

/** Where built guest images are cached (shared by tests, benches and `nubo up`). */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['NUBO_IMAGE_CACHE'] ?? join(nuboHome(env), 'images');
}
