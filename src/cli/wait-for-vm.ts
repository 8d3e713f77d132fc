import cliProgress from 'cli-progress';
import type { NuboClient } from '../client/nubo-client.js';
import type { VmDetailView } from '../contract/vm-schemas.js';
import { TRANSITIONAL_STATES, type VmState } from '../core/vm-state.js';
import type { ErrorCodeOf } from '../errors/error-codes.js';
import { NuboError } from '../errors/nubo-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { sleep } from '../util/deadline.js';

/** The state each waitable command leads to. */
export const WAIT_TARGET = Object.freeze({
  create: 'running',
  start: 'running',
  resume: 'running',
  reboot: 'running',
  recover: 'running',
  poweroff: 'poweroff',
  suspend: 'suspended',
  stop: 'stopped',
  terminate: 'terminated',
} as const satisfies Record<string, VmState>);

/** States in which an operation is still under way (or the host may yet answer): keep waiting. */
const IN_PROGRESS: ReadonlySet<VmState> = new Set<VmState>([...TRANSITIONAL_STATES, 'pending', 'unknown']);

/** The VM went `failed`, or settled in a state other than the one waited for. */
export class WaitFailedError extends NuboError {
  constructor(readonly code: ErrorCodeOf<'WaitFailedError'>, message: string, details: Record<string, unknown>) {
    super(message, details);
  }
}

export interface WaitForVmOptions {
  readonly client: NuboClient;
  readonly id: string;
  readonly target: VmState;
  /** The state the create/action request answered with. */
  readonly initial: VmState;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

/**
 * Polls the VM until it is in `target`, showing the states it went through
 * (a live line on a TTY, one line per state otherwise, on stderr so that
 * stdout stays the command's result).
 * @throws WaitFailedError when it goes `failed`, or rests in another state
 *   after the operation visibly ran (a refused shutdown rolls back to running)
 * @throws TimeoutError after `timeoutMs`
 */
export async function waitForVm(o: WaitForVmOptions): Promise<VmDetailView> {
  const t0 = Date.now();
  const seen: VmState[] = [o.initial];
  // Why a pending VM waits (the scheduler's last word: no host has room, every host disabled…), shown while it does.
  const why: { reason: string | null } = { reason: null };
  const progress = startProgress(o.id, seen, t0, why);
  let ranOperation = IN_PROGRESS.has(o.initial);
  try {
    for (;;) {
      const remaining = t0 + o.timeoutMs - Date.now();
      if (remaining <= 0) throw new TimeoutError(`waiting for VM ${o.id} to be ${o.target} (it is ${seen.at(-1)})`, o.timeoutMs);
      const vm = await o.client.getVm(o.id, { signal: o.signal, timeoutMs: Math.min(10_000, Math.max(remaining, 1_000)) });
      const reason = vm.state === 'pending' ? vm.stateReason : null;
      if (vm.state !== seen.at(-1) || reason !== why.reason) {
        if (vm.state !== seen.at(-1)) seen.push(vm.state);
        why.reason = reason;
        progress.changed();
      }
      if (vm.state === o.target) return vm;
      const details = { id: o.id, state: vm.state, target: o.target, stateReason: vm.stateReason };
      if (vm.state === 'failed') throw new WaitFailedError('VM_FAILED', `VM ${o.id} failed: ${vm.stateReason ?? 'no reason given'}`, details);
      if (IN_PROGRESS.has(vm.state)) ranOperation = true;
      else if (ranOperation || vm.state !== o.initial) {
        throw new WaitFailedError('WAIT_FAILED', `VM ${o.id} is ${vm.state}, not ${o.target}${vm.stateReason ? `: ${vm.stateReason}` : ''}`, details);
      }
      await sleep(Math.min(o.intervalMs, Math.max(0, t0 + o.timeoutMs - Date.now())), o.signal);
    }
  } finally {
    progress.stop();
  }
}

const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

function startProgress(id: string, seen: readonly VmState[], t0: number, why: { readonly reason: string | null }): { changed(): void; stop(): void } {
  const secs = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const line = (): string => `${id} [${seen.join(' → ')}]${why.reason !== null ? `: ${why.reason}` : ''} ${secs()}`;
  if (process.stderr.isTTY !== true) {
    const print = (): void => void process.stderr.write(`${line()}\n`);
    print();
    return { changed: print, stop() {} };
  }
  let done = false;
  const bar = new cliProgress.SingleBar({
    format: () => `${done ? ' ' : (SPINNER[Math.floor((Date.now() - t0) / 100) % SPINNER.length] ?? ' ')} ${line()}`,
    hideCursor: true,
    clearOnComplete: false,
    stream: process.stderr,
  });
  bar.start(1, 0);
  return {
    changed: () => bar.update(0),
    stop() {
      done = true;
      bar.stop();
    },
  };
}
