/**
 * The guest's received and sent bytes on its TAP devices, from a
 * /proc/PID/net/dev table. The file of QEMU's own pid is read because it
 * lists the interfaces of QEMU's network namespace (a lab host's), which the
 * agent's /sys/class/net may not be. A TAP's transmit is what the guest
 * received, and its receive what the guest sent.
 */
export function tapCounters(netDev: string, taps: readonly string[]): { rxBytes: number; txBytes: number } {
  const wanted = new Set(taps);
  let rxBytes = 0;
  let txBytes = 0;
  for (const line of netDev.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!wanted.has(name)) continue;
    // Columns after the name: 8 receive counters (bytes first), then 8 transmit counters (bytes first).
    const cols = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    const tapRx = cols[0] ?? 0;
    const tapTx = cols[8] ?? 0;
    if (Number.isFinite(tapTx)) rxBytes += tapTx;
    if (Number.isFinite(tapRx)) txBytes += tapRx;
  }
  return { rxBytes, txBytes };
}
