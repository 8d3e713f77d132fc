import { randomInt } from 'node:crypto';
import { QmpError } from './qmp-error.js';

/** Where the driver looks for a free port: above Linux's default ephemeral range, so outgoing connections rarely hold one. */
export const PICK_PORT_MIN = 61_000;
export const PICK_PORT_MAX = 65_000;
const PICK_ATTEMPTS = 20;

/** QEMU's words when the address is taken (7.2: "Failed to find an available port: Address already in use"). */
export function isAddressInUse(err: unknown): boolean {
  return err instanceof QmpError && /address already in use/i.test(err.desc);
}

/**
 * Runs `listen(port)` with `port`, or, when none is given, with random ports
 * from a high range until one is free. The VM may live in another network
 * namespace, so probing for a free port from here would prove nothing: QEMU
 * itself binds, and "address in use" means try the next.
 */
export async function listenOnSomePort(port: number | undefined, listen: (port: number) => Promise<void>): Promise<number> {
  if (port !== undefined) {
    await listen(port);
    return port;
  }
  for (let i = 1; ; i++) {
    const p = randomInt(PICK_PORT_MIN, PICK_PORT_MAX);
    try {
      await listen(p);
      return p;
    } catch (err) {
      if (!isAddressInUse(err) || i >= PICK_ATTEMPTS) throw err;
    }
  }
}
