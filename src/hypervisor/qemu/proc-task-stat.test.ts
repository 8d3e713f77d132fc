import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTaskStat } from './proc-task-stat.js';

describe('parseTaskStat', () => {
  it('reads utime + stime and starttime, counting from the last parenthesis of the command name', () => {
    // A real line of a QEMU vCPU thread, its name given spaces and a ")" to prove the counting.
    const line = '4242 (CPU 0/T)CG) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 4 0 98765 1000000 5000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0';
    assert.deepEqual(parseTaskStat(line), { cpuTicks: 287, startTicks: 98765 });
  });

  it('answers zeros for a line it cannot read rather than NaN', () => {
    assert.deepEqual(parseTaskStat('garbage'), { cpuTicks: 0, startTicks: 0 });
  });
});
