import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/open-store.js';
import type { MetricsHistory } from './metrics-history.js';

export interface ControllerMetricsOptions {
  readonly store: Store;
  readonly history: MetricsHistory;
  /** VMs whose operation the orchestrator is driving right now. */
  readonly operationsInFlight: () => number;
}

/** Seconds, from well under a second (a quick API call, a small idle guest's downtime) to an hour (a large cold migration). */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];

/**
 * The controller's Prometheus registry (its own, not prom-client's global
 * one: several controllers in one test process must not share series).
 * Migration histograms are fed from the store on each scrape — the
 * migrations that finished since the last one — so every migrator, live or
 * cold, is counted without a hook in each of their many ways to end.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly #apiLatency: Histogram<'method' | 'route' | 'status'>;
  readonly #migrationDuration: Histogram<'kind' | 'state'>;
  readonly #migrationDowntime: Histogram<'kind'>;
  readonly #migrationsFinished: Counter<'kind' | 'state'>;
  #watermark = new Date().toISOString();
  readonly #o: ControllerMetricsOptions;

  constructor(o: ControllerMetricsOptions) {
    this.#o = o;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'nubo_controller_' });
    this.#apiLatency = new Histogram({ name: 'nubo_api_request_duration_seconds', help: 'Native API request latency by route (the route pattern, not the URL)', labelNames: ['method', 'route', 'status'], buckets: SECONDS_BUCKETS, registers });
    this.#migrationDuration = new Histogram({ name: 'nubo_migration_duration_seconds', help: 'Total time of finished migrations, start to end', labelNames: ['kind', 'state'], buckets: SECONDS_BUCKETS, registers });
    this.#migrationDowntime = new Histogram({ name: 'nubo_migration_downtime_seconds', help: 'Downtime of succeeded live migrations as QEMU reported it', labelNames: ['kind'], buckets: SECONDS_BUCKETS, registers });
    this.#migrationsFinished = new Counter({ name: 'nubo_migrations_finished_total', help: 'Migrations finished since this controller started, by outcome', labelNames: ['kind', 'state'], registers });
    new Gauge({ name: 'nubo_operations_in_flight', help: 'VM operations the orchestrator is driving now', registers, collect() {
      this.set(o.operationsInFlight());
    } });
    const history = o.history;
    new Gauge({ name: 'nubo_metrics_history_bytes', help: 'Memory the metrics history rings hold', registers, collect() {
      this.set(history.footprint.bytes);
    } });
    const hostGauge = (name: string, help: string, pick: (s: NonNullable<ReturnType<MetricsHistory['latestHost']>>) => number): void => {
      new Gauge({ name, help, labelNames: ['host'], registers, async collect() {
        this.reset();
        for (const h of await o.store.hosts.list()) {
          const s = history.latestHost(h.id);
          if (s) this.set({ host: h.name }, pick(s));
        }
      } });
    };
    hostGauge('nubo_host_cpu_percent', 'Percent of the host machine\'s CPUs busy (latest sample)', (s) => s.machineCpuPercent);
    hostGauge('nubo_host_vms', 'VMs sampled on the host (latest sample)', (s) => s.vms);
    hostGauge('nubo_host_vm_memory_bytes', 'Guest memory of the host\'s VMs (latest sample)', (s) => s.memoryBytes);
  }

  /** One API request, by the route's pattern (`/api/v1/vms/:id`), so that ids do not make a series each. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.#apiLatency.observe({ method, route, status: String(status) }, seconds);
  }

  /** The Prometheus text exposition, after reading the migrations that finished since the last scrape. */
  async text(): Promise<string> {
    await this.#readFinishedMigrations();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async #readFinishedMigrations(): Promise<void> {
    for (;;) {
      const done = await this.#o.store.migrations.listFinishedSince(this.#watermark);
      for (const m of done) {
        if (m.finishedAt === null) continue;
        this.#watermark = m.finishedAt;
        this.#migrationsFinished.inc({ kind: m.kind, state: m.state });
        this.#migrationDuration.observe({ kind: m.kind, state: m.state }, Math.max(0, Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000);
        const downtime = m.stats['downtimeMs'];
        if (m.state === 'succeeded' && typeof downtime === 'number') this.#migrationDowntime.observe({ kind: m.kind }, downtime / 1000);
      }
      if (done.length < 1_000) return;
    }
  }
}
