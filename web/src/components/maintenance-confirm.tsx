import { useEffect, useRef, useState } from 'preact/hooks';
import type { Host, Vm } from '../api-types';
import { ApiError } from '../api-error';
import { useSession } from '../session-context';
import { ErrorBanner } from './error-banner';

/** How each VM leaves, as `POST /hosts/{id}/maintenance` decides it (running: live; at rest: cold, or left with `poweredOff: leave`). */
const AT_REST = new Set(['poweroff', 'suspended']);

/**
 * Asks before a host goes into maintenance: it takes no new VMs from then
 * on and every VM on it is migrated away, which the operator should see
 * before saying yes. The one choice the API offers — what becomes of
 * powered-off and suspended VMs — is asked here. A refusal (another admin
 * began it first: 409) stays in the dialog, readable.
 */
export function MaintenanceConfirm({ host, vms, onStarted, onClose }: { host: Host; vms: readonly Vm[]; onStarted: () => void; onClose: () => void }) {
  const { api } = useSession();
  const ref = useRef<HTMLDialogElement>(null);
  const [poweredOff, setPoweredOff] = useState<'move' | 'leave'>('move');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [starting, setStarting] = useState(false);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const running = vms.filter((v) => v.state === 'running').length;
  const atRest = vms.filter((v) => AT_REST.has(v.state)).length;

  const start = async (): Promise<void> => {
    setError(undefined);
    setStarting(true);
    try {
      await api.post(`/hosts/${host.id}/maintenance`, { poweredOff });
      onStarted();
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err), undefined));
    } finally {
      setStarting(false);
    }
  };
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="maintenance-title" onClose={onClose}>
      <form method="dialog">
        <h2 id="maintenance-title">Put {host.name} in maintenance?</h2>
        <p>
          {host.name} takes no new VMs, and {vms.length === 0 ? 'it has no VM to move.' : `its ${vms.length} ${vms.length === 1 ? 'VM is' : 'VMs are'} migrated away: ${running} running (live)${atRest > 0 ? `, ${atRest} powered off or suspended` : ''}.`}
        </p>
        {vms.length > 0 && <ul aria-label={`VMs on ${host.name}`}>{vms.map((v) => <li key={v.id}>{v.name} <span class="muted">{v.state}</span></li>)}</ul>}
        <fieldset>
          <legend>Powered-off and suspended VMs</legend>
          <label class="choice"><input type="radio" name="powered-off" checked={poweredOff === 'move'} onChange={() => setPoweredOff('move')} /> Move them to other hosts (cold migration)</label>
          <label class="choice"><input type="radio" name="powered-off" checked={poweredOff === 'leave'} onChange={() => setPoweredOff('leave')} /> Leave them on {host.name}</label>
        </fieldset>
        <ErrorBanner error={error} />
        <div class="buttons">
          <button type="submit" value="cancel" autofocus>Cancel</button>
          <button type="button" class="primary" disabled={starting} onClick={() => void start()}>Start maintenance</button>
        </div>
      </form>
    </dialog>
  );
}
