import type { Failpoints } from '../../util/failpoints.js';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { systemPython } from '../../util/system-python.js';

export interface QemuDriverOptionsInput {
  /** Per-VM runtime files (sockets, pid files, console logs). Keep it short: unix socket paths max out at 107 bytes. */
  readonly runDir: string;
  /** Directories VM files may live in (datastores, image cache). */
  readonly allowedDirs: readonly string[];
  readonly qemuBinary?: string;
  /** `auto` probes KVM and falls back to TCG. */
  readonly accel?: 'auto' | 'kvm' | 'tcg';
  readonly logger?: Logger;
  /** Fault injection for tests (`activate.continued`: the incoming VM runs, its migration record not cleared yet). */
  readonly failpoints?: Failpoints | undefined;
  /** The interpreter of the fd sender (fd-sender.ts; default: systemPython()), or false: saves always through the exec: writer. */
  readonly python?: string | false | undefined;
  /**
   * The state file a save writes: `ram` (format 2, the default: the guest's RAM copied by the fd sender beside QEMU's
   * device stream; a VM it cannot be used for falls back to `qemu`) or `qemu` (QEMU's whole stream, as before). Both
   * are always restored.
   */
  readonly saveFormat?: 'ram' | 'qemu' | undefined;
  /** Threads of a format-2 RAM copy, each way (default 2: on this 2-core machine 2 matched or beat 3 in bench/suspend.ts runs side by side). */
  readonly ramCopyThreads?: number | undefined;
}

export interface QemuDriverOptions {
  readonly runDir: string;
  readonly allowedDirs: readonly string[];
  readonly qemuBinary: string;
  readonly accel: 'auto' | 'kvm' | 'tcg';
  readonly logger: Logger;
  readonly failpoints: Failpoints | undefined;
  readonly python: string | false;
  readonly saveFormat: 'ram' | 'qemu';
  readonly ramCopyThreads: number;
}

/** Normalises the driver's options once; the result is frozen and passed in by constructor. */
export function compileQemuDriverOptions(input: QemuDriverOptionsInput): QemuDriverOptions {
  const runDir = resolve(input.runDir);
  // <runDir>/<40-char id>/console.sock must fit in sun_path (108 bytes with the NUL).
  if (runDir.length > 50) throw new RangeError(`runDir ${runDir} is too long for unix socket paths (max 50 characters)`);
  return Object.freeze({
    runDir,
    allowedDirs: Object.freeze(input.allowedDirs.map((d) => resolve(d))),
    qemuBinary: input.qemuBinary ?? 'qemu-system-x86_64',
    accel: input.accel ?? 'auto',
    logger: input.logger ?? pino({ level: 'silent' }),
    failpoints: input.failpoints,
    python: input.python ?? systemPython(),
    saveFormat: input.saveFormat ?? 'ram',
    ramCopyThreads: checkThreads(input.ramCopyThreads ?? 2),
  });
}

function checkThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new RangeError(`ramCopyThreads must be a whole number from 1 to 16, not ${n}`);
  return n;
}
