import { ValidationError } from '../errors/validation-error.js';
import { FailpointError } from './failpoint-error.js';

/** What a failpoint does when reached. */
export type FailpointAction = () => Promise<void> | void;

/**
 * Named points in a daemon where tests inject faults (after FreeBSD's
 * fail(9) and TiKV's fail-rs): nothing happens unless a point was armed.
 * Armed in-process with `arm(name, action)`, or for a daemon process by
 * `NUBO_FAILPOINTS="name=action;…"` with the actions `exit` (SIGKILL itself:
 * a crash, no clean-up), `error` (the step throws) and `sleep(ms)`.
 */
export class Failpoints {
  readonly #armed = new Map<string, FailpointAction>();

  static fromSpec(spec: string | undefined): Failpoints {
    const fp = new Failpoints();
    for (const part of (spec ?? '').split(';').map((p) => p.trim()).filter(Boolean)) {
      const m = /^([a-z0-9.-]+)=(exit|error|sleep\((\d{1,6})\))$/.exec(part);
      if (!m) throw new ValidationError('failpoints', [{ field: 'NUBO_FAILPOINTS', message: `"${part}" is not name=exit|error|sleep(ms)` }]);
      const [, name, action, ms] = m as unknown as [string, string, string, string | undefined];
      if (action === 'exit') fp.arm(name, () => void process.kill(process.pid, 'SIGKILL'));
      else if (action === 'error') fp.arm(name, () => { throw new FailpointError(name); });
      else fp.arm(name, () => new Promise((r) => setTimeout(r, Number(ms))));
    }
    return fp;
  }

  arm(name: string, action: FailpointAction): void {
    this.#armed.set(name, action);
  }

  disarm(name: string): void {
    this.#armed.delete(name);
  }

  /** Runs the point's action if it is armed (once per arming: a point fires, then disarms). */
  async hit(name: string): Promise<void> {
    const action = this.#armed.get(name);
    if (!action) return;
    this.#armed.delete(name);
    await action();
  }
}
