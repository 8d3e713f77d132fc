import type { Logger } from 'pino';
import type { HostReport } from '../contract/agent-api.js';
import { deadline } from '../util/deadline.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';

/** The header a controller names the leader in (see controller/leader-forwarder.ts; the agent does not import the controller). */
const LEADER_HEADER = 'x-nubo-leader';

export interface ControllerHeartbeatOptions {
  /** Every controller's URL; the first is tried first. */
  readonly urls: readonly string[];
  readonly token: string;
  readonly logger: Logger;
  /** Per attempt; default 10 s. */
  readonly timeoutMs?: number | undefined;
}

/**
 * Sends the host report to the controllers. It sticks with the controller
 * that answered last, moves to the leader a controller names in its answer
 * (`x-nubo-leader`), and on no answer or a 5xx tries the next URL at once, so
 * a failed-over control plane hears from every host within one beat.
 */
export class ControllerHeartbeat {
  #current = 0;
  readonly #urls: readonly string[];

  constructor(private readonly o: ControllerHeartbeatOptions) {
    this.#urls = parseControllerUrls(o.urls);
  }

  /** The controller the next beat goes to first. */
  get target(): string {
    return this.#urls[this.#current] ?? '';
  }

  /** One beat; true when a controller took it. Never throws: a missed beat is logged, the next one retries. */
  async beat(report: HostReport, signal?: AbortSignal): Promise<boolean> {
    const failures: string[] = [];
    for (let tried = 0; tried < this.#urls.length; tried++) {
      const url = this.target;
      const d = deadline(`heartbeat to ${url}`, this.o.timeoutMs ?? 10_000, signal);
      try {
        const res = await fetch(`${url}/internal/v1/heartbeat`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(report),
          signal: d.signal,
        });
        await res.arrayBuffer();
        this.#follow(res.headers.get(LEADER_HEADER));
        if (res.ok) return true;
        failures.push(`${url}: HTTP ${res.status}`);
        // A 4xx (a wrong token, a report the controller refuses) would be the same at every controller.
        if (res.status < 500) break;
      } catch (err) {
        failures.push(`${url}: ${errorMessage(err)}`);
        if (signal?.aborted) break;
      } finally {
        d.dispose();
      }
      this.#current = (this.#current + 1) % this.#urls.length;
    }
    this.o.logger.warn({ failures }, 'heartbeat failed');
    return false;
  }

  /** Next beat to the leader, when it is one of ours (an agent only talks to the controllers it was given). */
  #follow(leader: string | null): void {
    if (leader === null) return;
    const i = this.#urls.indexOf(leader.replace(/\/+$/, ''));
    if (i >= 0) this.#current = i;
  }
}

/** `--controller URL[,URL...]`: http(s) URLs, no duplicates, trailing slashes dropped. */
export function parseControllerUrls(list: readonly string[]): string[] {
  const urls = list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '').map((s) => s.replace(/\/+$/, ''));
  const issues: { field: string; message: string }[] = [];
  if (urls.length === 0) issues.push({ field: 'controller', message: 'needs at least one controller URL' });
  for (const u of urls) {
    const protocol = URL.canParse(u) ? new URL(u).protocol : '';
    if (protocol !== 'http:' && protocol !== 'https:') issues.push({ field: 'controller', message: `${u} is not an http(s) URL` });
  }
  if (new Set(urls).size !== urls.length) issues.push({ field: 'controller', message: 'a controller URL is listed twice' });
  if (issues.length > 0) throw new ValidationError('agent options', issues);
  return urls;
}
