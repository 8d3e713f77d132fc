import { runCommand } from '../../src/util/run-command.js';

/** Network namespaces and links whose names carry the lab prefix: what `lab down` must leave none of. */
export async function labLeftovers(prefix: string): Promise<string[]> {
  const ns = (await runCommand('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.includes(`${prefix}-`));
  const links = (await runCommand('ip', ['-o', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes(`${prefix}-`));
  return [...ns, ...links];
}

/**
 * User data for a guest that fetches http://<target>/ for up to ~20 s per
 * target and prints `REACH <ip> OK|FAIL` on its console.
 */
export function reachProber(targets: readonly string[]): string {
  return [
    '#!/bin/sh',
    `for t in ${targets.join(' ')}; do`,
    '  r=FAIL; i=0',
    '  while [ $i -lt 10 ]; do',
    // busybox wget segfaults in the guest (static resolver), so HTTP by hand over nc.
    `    if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "$t" 80 2>/dev/null | head -n 1 | grep -q '^HTTP/1'; then r=OK; break; fi`,
    '    i=$((i + 1)); sleep 1',
    '  done',
    '  echo "REACH $t $r"',
    'done',
    '',
  ].join('\n');
}
