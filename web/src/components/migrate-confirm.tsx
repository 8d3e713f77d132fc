import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api-error';
import { useSession } from '../session-context';
import { ErrorBanner } from './error-banner';

/** The page's view of a dry run: the pre-check and the planner's prediction. */
export interface MigrationDryRun {
  precheck: { ok: boolean; reasons: string[] };
  prediction?: { totalSeconds: number; downtimeMs: number } | null;
}

/**
 * What `POST /vms/{id}/migrate` with `dryRun: true` answers when every
 * pre-check passed (src/contract/migration-schemas.ts); a pre-check that says
 * no is a 409 MIGRATION_REFUSED whose message is the reason.
 */
interface DryRunAnswer { readonly checks: 'passed'; readonly prediction: Readonly<Record<string, unknown>> }

function fromAnswer(a: DryRunAnswer): MigrationDryRun {
  const total = a.prediction['totalMs'];
  const down = a.prediction['downtimeMs'];
  return { precheck: { ok: true, reasons: [] }, prediction: typeof total === 'number' && typeof down === 'number' ? { totalSeconds: total / 1000, downtimeMs: down } : null };
}

export interface MigrateRequest {
  readonly vmId: string; readonly vmName: string; readonly from: string | null; readonly to: string;
  /** The migration stream's cap (the policy's `maxBandwidthMiBps`); absent: the policy's default. */
  readonly maxBandwidthMiBps?: number | undefined;
}

/** What `POST /vms/{id}/migrate` is sent for this request (the dry run adds `dryRun: true`). */
export function migrateBody(r: MigrateRequest): Record<string, unknown> {
  return {
    ...(r.to === '' ? {} : { to: r.to }),
    ...(r.maxBandwidthMiBps === undefined ? {} : { policy: { maxBandwidthMiBps: r.maxBandwidthMiBps } }),
  };
}

type Check = { state: 'checking' } | { state: 'unsupported' } | { state: 'done'; result: MigrationDryRun } | { state: 'failed'; error: ApiError };

/**
 * An API without the planner refuses the unknown `dryRun` field with a 400
 * naming it: the pre-check is then not shown, and the migration is asked
 * for as before. Any other refusal is the pre-check's own answer.
 */
export function dryRunUnsupported(err: ApiError): boolean {
  return err.status === 400 && (err.field === 'dryRun' || /dryRun/.test(err.message));
}

/**
 * Asks before a live migration (from the Migrate tab or a drop on the hosts
 * page): runs the dry run first and shows its pre-check and predicted time
 * when the API has them; Start is refused while the pre-check says no.
 */
export function MigrateConfirm({ request, onStarted, onClose }: { request: MigrateRequest; onStarted: () => void; onClose: () => void }) {
  const { api } = useSession();
  const ref = useRef<HTMLDialogElement>(null);
  const [check, setCheck] = useState<Check>({ state: 'checking' });
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [starting, setStarting] = useState(false);
  const body = migrateBody(request);
  useEffect(() => {
    ref.current?.showModal();
    const ac = new AbortController();
    api.request<DryRunAnswer>('POST', `/vms/${request.vmId}/migrate`, { ...body, dryRun: true }, ac.signal).then(
      (answer) => setCheck({ state: 'done', result: fromAnswer(answer) }),
      (err: unknown) => {
        if (ac.signal.aborted) return;
        const e = err instanceof ApiError ? err : new ApiError(0, 'NETWORK', String(err), undefined);
        if (e.code === 'MIGRATION_REFUSED') setCheck({ state: 'done', result: { precheck: { ok: false, reasons: [e.message] }, prediction: null } });
        else setCheck(dryRunUnsupported(e) ? { state: 'unsupported' } : { state: 'failed', error: e });
      },
    );
    return () => ac.abort();
  }, [request.vmId, request.to, request.maxBandwidthMiBps]);

  const start = async (): Promise<void> => {
    setError(undefined);
    setStarting(true);
    try {
      await api.post(`/vms/${request.vmId}/migrate`, body);
      onStarted();
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    } finally {
      setStarting(false);
    }
  };
  const refused = check.state === 'failed' || (check.state === 'done' && !check.result.precheck.ok);
  const where = request.to === '' ? 'a host the scheduler picks' : request.to;
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="migrate-title" onClose={onClose}>
      <form method="dialog">
        <h2 id="migrate-title">Live-migrate {request.vmName}?</h2>
        <p>{request.vmName} moves from {request.from ?? 'its host'} to {where} while it runs{request.maxBandwidthMiBps === undefined ? '' : `, its stream capped at ${request.maxBandwidthMiBps} MiB/s`}.</p>
        {check.state === 'checking' && <p role="status" class="hint">Checking the destination…</p>}
        {check.state === 'failed' && <ErrorBanner error={check.error} />}
        {check.state === 'done' && <DryRunResult r={check.result} />}
        <ErrorBanner error={error} />
        <div class="buttons">
          <button type="submit" value="cancel" autofocus>Cancel</button>
          <button type="button" class="primary" disabled={refused || starting || check.state === 'checking'} onClick={() => void start()}>Start migration</button>
        </div>
      </form>
    </dialog>
  );
}

function DryRunResult({ r }: { r: MigrationDryRun }) {
  return (
    <section aria-label="Pre-check" data-testid="precheck">
      <p class={r.precheck.ok ? 'notice' : 'error'} role="status">Pre-check: {r.precheck.ok ? 'passed' : 'failed'}</p>
      {r.precheck.reasons.length > 0 && <ul>{r.precheck.reasons.map((x) => <li key={x}>{x}</li>)}</ul>}
      {r.prediction && (
        <dl class="numbers">
          <dt>Predicted time</dt><dd data-testid="predicted-time">{r.prediction.totalSeconds.toFixed(1)} s</dd>
          <dt>Predicted downtime</dt><dd data-testid="predicted-downtime">{Math.round(r.prediction.downtimeMs)} ms</dd>
        </dl>
      )}
    </section>
  );
}
