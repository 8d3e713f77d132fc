import assert from 'node:assert/strict';

/** The console's whole lines (the serial console ends them in CRLF). */
export function consoleLines(log: string): string[] {
  return log.split('\n').map((l) => l.replace(/\r$/, ''));
}

/**
 * Asserts that the console log holds each of `lines` exactly once, as a whole line, in this order: one log across
 * boots, suspends and moves, the earlier output first.
 */
export function assertConsoleInOrder(log: string, lines: readonly string[]): void {
  const all = consoleLines(log);
  let at = -1;
  for (const line of lines) {
    const i = all.indexOf(line);
    assert.ok(i >= 0, `the console shows "${line}"; its end:\n${log.slice(-2000)}`);
    assert.equal(all.indexOf(line, i + 1), -1, `"${line}" is on the console once`);
    assert.ok(i > at, `"${line}" comes after the line before it`);
    at = i;
  }
}

/** How many boots the console shows (the tiny guest's readiness line, once a boot). */
export function bootsOnConsole(log: string): number {
  return consoleLines(log).filter((l) => /^NUBO-READY \S+$/.test(l)).length;
}
