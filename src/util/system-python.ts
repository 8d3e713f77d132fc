import { accessSync, constants } from 'node:fs';

/** Debian's interpreter, which scripts/install-deps.sh installs (package python3). */
const DEBIAN_PYTHON = '/usr/bin/python3';

let found: string | undefined;

/**
 * The python3 nubo's helper processes run on (the agent's fd sender, a paced kernel copy): Debian's own when it is
 * there, else whatever `python3` the PATH names. Not the PATH's first: a version manager's shim there (pyenv's is a
 * shell script that execs pyenv) costs ~80 ms a start on these machines against ~5 ms, and a paced copy starts one
 * per file. The helpers use the standard library only, so any python3 serves.
 */
export function systemPython(): string {
  if (found === undefined) {
    try {
      accessSync(DEBIAN_PYTHON, constants.X_OK);
      found = DEBIAN_PYTHON;
    } catch {
      found = 'python3';
    }
  }
  return found;
}
