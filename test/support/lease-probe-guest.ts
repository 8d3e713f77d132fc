/**
 * What the lease tests' guests run and the rates they plan with. The guest
 * prints, every second, a checksum of a file on its disk, a number kept only
 * in RAM and its uptime: the same checksum and number with a larger uptime
 * after a suspend, a move or a controller's death mean the same guest, not a
 * reboot (read with console-probes.ts).
 */
export const LEASE_PROBE_USER_DATA = `#!/bin/sh
dd if=/dev/urandom of=/data/blob bs=1M count=2 2>/dev/null
sync
NONCE=$(dd if=/dev/urandom bs=8 count=1 2>/dev/null | md5sum | cut -c1-16)
while :; do
  echo "PROBE $(md5sum /data/blob | cut -c1-32) $NONCE $(cut -d' ' -f1 /proc/uptime)"
  sleep 1
done
`;

/**
 * Estimates with room for a loaded 2-core machine: an AR's VM is made 12 s
 * before its start, and a lease it preempts is saved in the 8 s before that.
 */
export const LEASE_LAB_RATES = { bootS: 12, suspendMiBps: 16, resumeMiBps: 16, migrateMiBps: 8, shutdownS: 4, minRunS: 5 };
