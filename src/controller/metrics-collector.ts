import type { Logger } from 'pino';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { AgentClient } from '../client/agent-client.js';
import { agentVmId } from './agent-vm-id.js';
import type { MetricsHistory } from './metrics-history.js';
import { errorMessage } from '../errors/nubo-error.js';
import { mapLimit } from '../util/map-limit.js';
import { PeriodicRounds } from '../util/periodic-rounds.js';

export interface MetricsCollectorOptions {
  readonly store: Store;
  readonly agentFor: (h: Host) => AgentClient;
  readonly history: MetricsHistory;
  readonly logger: Logger;
  /** How often every host is asked (default 5 s, the agents' own sampling interval). */
  readonly intervalMs?: number | undefined;
}

export const DEFAULT_COLLECT_INTERVAL_MS = 5_000;

/**
 * Pulls every host's latest samples into the history. Pulled rather than
 * pushed: the agents need no second controller client besides the heartbeat
 * (which s7-scale keeps lean), every controller of several fills its own
 * history for the reads it serves, and a slow or dead agent only costs its
 * own bounded request (a deadline of one interval), never the others'.
 */
export class MetricsCollector {
  readonly intervalMs: number;
  readonly #o: MetricsCollectorOptions;
  readonly #rounds: PeriodicRounds;
  readonly #stopping = new AbortController();

  constructor(o: MetricsCollectorOptions) {
    this.#o = o;
    this.intervalMs = o.intervalMs ?? DEFAULT_COLLECT_INTERVAL_MS;
    this.#rounds = new PeriodicRounds(() => this.collectNow(), this.intervalMs, (err) => this.#o.logger.warn({ err: errorMessage(err) }, 'metrics: collection round failed'));
  }

  start(): void {
    this.#rounds.start();
  }

  async stop(): Promise<void> {
    this.#stopping.abort(new Error('the controller is stopping'));
    await this.#rounds.stop();
  }

  /** One round: asks every host that may run VMs, keeps the samples of the VMs bound to the host that reported them. */
  async collectNow(): Promise<void> {
    const { store, history } = this.#o;
    const hosts = (await store.hosts.list()).filter((h) => h.state !== 'init');
    // During a migration both hosts report the VM; only its bound host's samples are its own.
    const byAgentId = new Map<string, { id: string; hostId: string | null }>();
    for (const vm of await store.vms.bindings()) byAgentId.set(agentVmId(vm.id), vm);
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(Math.max(1_000, this.intervalMs))]);
    await mapLimit(hosts, 16, async (h) => {
      try {
        const m = await this.#o.agentFor(h).metrics({ signal, timeoutMs: Math.max(1_000, this.intervalMs) });
        if (m.host) history.addHost(h.id, m.host);
        for (const v of m.vms) {
          const vm = byAgentId.get(v.id);
          if (vm && vm.hostId === h.id) history.addVm(vm.id, h.id, v.sample, v.totals);
        }
      } catch (err) {
        this.#o.logger.debug({ host: h.name, err: errorMessage(err) }, 'metrics: host not read');
      }
    });
    history.prune(Date.now() - history.samples * this.intervalMs);
  }
}
