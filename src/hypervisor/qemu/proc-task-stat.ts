/** USER_HZ is 100 on every Linux/x86 build: one clock tick is 10 ms. */
export const TICK_MS = 10;

/** The fields of a /proc/PID/stat or /proc/PID/task/TID/stat line that the metrics read. */
export interface TaskStat {
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
  /** When the task started, in clock ticks after boot: with the pid, it names one process for good (pids get reused). */
  readonly startTicks: number;
}

/** Parses a stat line; the command name may hold spaces and parentheses, so fields are counted from the last `)`. */
export function parseTaskStat(line: string): TaskStat {
  const close = line.lastIndexOf(')');
  // After ") " the fields start at `state` (field 3 of proc(5)): utime is field 14, stime 15, starttime 22.
  const fields = close < 0 ? [] : line.slice(close + 2).trim().split(/\s+/);
  const num = (i: number): number => {
    const v = Number(fields[i]);
    return Number.isFinite(v) ? v : 0;
  };
  return { cpuTicks: num(11) + num(12), startTicks: num(19) };
}
