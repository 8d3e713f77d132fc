import { useEffect, useState } from 'preact/hooks';
import type { Host, Migration, VmDetail } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { DESIGN_STAGES, designStageOf, migrationNumbers, stageClass } from '../migration-numbers';
import { MigrateConfirm } from '../components/migrate-confirm';
import { takesVms } from '../host-takes-vms';

const PROGRESS_POLL_MS = 1_000;
/** The migration policy's ceiling for `maxBandwidthMiBps` (100 GiB/s). */
const MAX_BANDWIDTH_MIBPS = 100 * 1024;

/** Live migration (admin): pick a destination (and a bandwidth cap if wanted), confirm after the pre-check (when the API has one), start, watch stages 0–5 and the copy's numbers, cancel; the result with total time and downtime. */
export function VmMigrateTab({ vm }: { vm: VmDetail }) {
  const { api } = useSession();
  const hosts = useLive((a, signal) => a.get<Host[]>('/hosts', signal), [], (e) => e.resource === 'host');
  const latest = useLive(async (a, signal) => (await a.get<Migration[]>(`/migrations?vm=${vm.id}`, signal)).at(-1), [vm.id], (e) => e.resource === 'migration' || e.resourceId === vm.id);
  const [to, setTo] = useState('');
  // Empty: the policy's default cap. The bounds are the API's (src/core/migration/migration-policy.ts); the browser checks them first.
  const [cap, setCap] = useState('');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [asking, setAsking] = useState(false);
  const running = latest.data?.state === 'running';
  // The copy's numbers change without events (only stages are journalled as events): polled while it runs.
  useEffect(() => {
    if (!running) return;
    const t = setInterval(latest.reload, PROGRESS_POLL_MS);
    return () => clearInterval(t);
  }, [running, latest.reload]);

  const start = (e: Event): void => {
    e.preventDefault();
    setError(undefined);
    setAsking(true);
  };
  const cancel = async (id: string): Promise<void> => {
    try {
      await api.post(`/migrations/${id}/cancel`);
      latest.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  // A host in maintenance, on standby or degraded takes no VMs (the API would refuse it): not offered.
  const candidates = (hosts.data ?? []).filter((h) => h.name !== vm.host && takesVms(h));
  // The host picked before may be no destination now (the VM moved there, or it left service): the scheduler's choice again, not a blank select.
  const dest = candidates.some((h) => h.name === to) ? to : '';

  return (
    <div>
      <ErrorBanner error={hosts.error ?? latest.error ?? error} />
      {!running && (
        <form class="inline" onSubmit={start} aria-label="Live-migrate">
          <label>Destination <select value={dest} onChange={(e) => setTo((e.currentTarget).value)}>
            <option value="">chosen by the scheduler</option>
            {candidates.map((h) => <option key={h.id} value={h.name}>{h.name} ({h.total.memoryMiB - h.reserved.memoryMiB} MiB free)</option>)}
          </select></label>
          <label>Bandwidth limit (MiB/s) <input type="number" name="maxBandwidthMiBps" min={1} max={MAX_BANDWIDTH_MIBPS} step={1} placeholder="policy default" value={cap} onInput={(e) => setCap((e.currentTarget).value)} /></label>
          <button type="submit" class="primary" disabled={vm.state !== 'running'}>Migrate</button>
          {vm.state !== 'running' && <span class="hint">Only a running VM migrates live.</span>}
        </form>
      )}
      {asking && <MigrateConfirm request={{ vmId: vm.id, vmName: vm.name, from: vm.host, to: dest, maxBandwidthMiBps: cap === '' ? undefined : Number(cap) }} onStarted={latest.reload} onClose={() => setAsking(false)} />}
      {latest.data && <MigrationProgress m={latest.data} onCancel={() => void cancel(latest.data!.id)} />}
    </div>
  );
}

export function MigrationProgress({ m, onCancel }: { m: Migration; onCancel: () => void }) {
  const n = migrationNumbers(m);
  const stage = designStageOf(m);
  return (
    <section class="migration" aria-label="Migration progress" aria-live="polite">
      <h2>{m.source} → {m.destination}: {m.state}</h2>
      <ol class="stages">
        {DESIGN_STAGES.map((s) => <li key={s.n} class={stageClass(s.n, stage, m.state)} title={s.n === stage && stageClass(s.n, stage, m.state) === 'stopped' ? `${m.state} here` : undefined}>{s.n} {s.label}</li>)}
      </ol>
      {n.percentSent !== undefined && <label class="progress">RAM sent <progress max={100} value={n.percentSent}>{n.percentSent} %</progress> {n.percentSent} %</label>}
      {n.percentDisk !== undefined && <label class="progress">Disks mirrored <progress max={100} value={n.percentDisk}>{n.percentDisk} %</progress> <span data-testid="disk-mirrored">{n.percentDisk} % ({n.disk})</span></label>}
      <dl class="numbers">
        <dt>Passes</dt><dd>{n.passes}</dd>
        <dt>Dirty rate</dt><dd>{n.dirtyRate}</dd>
        <dt>Throughput</dt><dd>{n.throughput}</dd>
        <dt>Sent</dt><dd>{n.sent}</dd>
        <dt>Bandwidth cap</dt><dd data-testid="bandwidth-cap">{n.cap}</dd>
        {m.state !== 'running' && <><dt>Total time</dt><dd data-testid="total-time">{n.totalMs}</dd><dt>Downtime</dt><dd data-testid="downtime">{n.downtimeMs}</dd></>}
        {m.reason !== null && <><dt>Reason</dt><dd>{m.reason}</dd></>}
      </dl>
      {m.state === 'running' && <button type="button" class="danger" onClick={onCancel}>Cancel migration</button>}
    </section>
  );
}
