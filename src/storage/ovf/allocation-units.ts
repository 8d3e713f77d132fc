const NAMED: Readonly<Record<string, number>> = {
  byte: 1, bytes: 1,
  kb: 2 ** 10, kib: 2 ** 10, kilobytes: 2 ** 10,
  mb: 2 ** 20, mib: 2 ** 20, megabytes: 2 ** 20,
  gb: 2 ** 30, gib: 2 ** 30, gigabytes: 2 ** 30,
  tb: 2 ** 40, tib: 2 ** 40, terabytes: 2 ** 40,
};

/**
 * Bytes per unit of an OVF allocation unit: DSP0004 programmatic units as
 * VMware writes them ("byte * 2^20", "byte*1024") and the names VirtualBox
 * and others use ("MegaBytes", "MB" — taken as binary, as those tools do).
 * Undefined for anything else (hertz, a typo).
 */
export function allocationUnitBytes(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  const named = NAMED[t];
  if (named !== undefined) return named;
  const m = /^bytes?\s*\*\s*(\d+)(?:\s*\^\s*(\d+))?$/.exec(t);
  if (!m) return undefined;
  const value = Number(m[1]) ** Number(m[2] ?? 1);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
