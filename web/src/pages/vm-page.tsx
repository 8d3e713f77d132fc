import { useEffect, useState } from 'preact/hooks';
import type { VmDetail } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { Link } from '../components/link';
import { StateBadge } from '../components/state-badge';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog';
import { actionInfo } from '../vm-actions';
import { VmCaptureActions } from '../components/vm-capture-actions';
import { VmMetricsCharts } from '../components/vm-metrics';
// Type only: the module itself is loaded on demand (useConsoleTab).
import type { VmConsoleTab } from './vm-console-tab';
import { VmSnapshotsTab } from './vm-snapshots-tab';
import { VmDevicesTab } from './vm-devices-tab';
import { VmHistoryTab } from './vm-history-tab';
import { VmMigrateTab } from './vm-migrate-tab';

/** One VM: a tab per concern (the path names the tab, so a tab can be linked), and the actions its state allows. */
export function VmPage({ id, tab }: { id: string; tab: string }) {
  const { api, isAdmin } = useSession();
  const vm = useLive((a, signal) => a.get<VmDetail>(`/vms/${id}`, signal), [id], (e) => e.resourceId === id || e.resource === 'migration');
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const ConsoleTab = useConsoleTab(tab === 'console');
  const v = vm.data;
  const tabs: [string, string][] = [['summary', 'Summary'], ['console', 'Console'], ['devices', 'Disks & NICs'], ['snapshots', 'Snapshots'], ['history', 'History']];
  // Migration is the admin's (the API answers 403 to anyone else): the tab is not offered to users.
  if (isAdmin) tabs.push(['migrate', 'Migrate']);

  const act = async (action: string): Promise<void> => {
    setError(undefined);
    try {
      await api.post(`/vms/${id}/actions/${action}`);
      vm.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  const ask = (action: string): void => {
    const info = actionInfo(action);
    if (info?.destructive === true && v) {
      setConfirm({ title: `${info.label} ${v.name}?`, message: action.startsWith('terminate') ? `${v.name} and its disks are deleted. This cannot be undone.` : `${v.name}'s guest is stopped at once, without a shutdown.`, confirmLabel: info.label, onConfirm: () => void act(action) });
    } else void act(action);
  };

  if (vm.error && !v) return <div><h1>VM</h1><ErrorBanner error={vm.error} /><Link href="/vms">Back to VMs</Link></div>;
  if (!v) return <p class="loading">Loading…</p>;
  return (
    <div>
      <div class="title-row">
        <h1>{v.name} <StateBadge state={v.state} /></h1>
        <div class="actions" role="group" aria-label="VM actions">
          {v.allowedActions.map((a) => {
            const info = actionInfo(a);
            return info ? <button key={a} type="button" class={info.destructive ? 'danger' : ''} onClick={() => ask(a)}>{info.label}</button> : null;
          })}
        </div>
      </div>
      <VmCaptureActions vm={v} />
      <ErrorBanner error={error} />
      <nav class="tabs" aria-label="VM tabs">
        {tabs.map(([t, label]) => <Link key={t} href={`/vms/${id}/${t}`} current={t === tab} class="tab">{label}</Link>)}
      </nav>
      <section class="tab-body">
        {tab === 'summary' && <><Summary v={v} /><VmMetricsCharts vmId={v.id} /></>}
        {tab === 'console' && (ConsoleTab ? <ConsoleTab vm={v} /> : <p class="loading">Loading the console…</p>)}
        {tab === 'devices' && <VmDevicesTab vm={v} onChange={vm.reload} />}
        {tab === 'snapshots' && <VmSnapshotsTab vm={v} />}
        {tab === 'history' && <VmHistoryTab vm={v} />}
        {tab === 'migrate' && isAdmin && <VmMigrateTab vm={v} />}
      </section>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}

function Summary({ v }: { v: VmDetail }) {
  const runningSince = [...v.history].reverse().find((h) => h.to === 'running')?.at;
  return (
    <dl class="summary">
      <dt>State</dt><dd><StateBadge state={v.state} />{v.stateReason !== null && ` — ${v.stateReason}`}</dd>
      <dt>Host</dt><dd>{v.host ?? '—'}</dd>
      <dt>Addresses</dt><dd>{v.nics.map((n) => n.address).filter((a) => a !== null).join(', ') || '—'}</dd>
      <dt>Size</dt><dd>{v.vcpus} vCPU, {v.memoryMiB} MiB</dd>
      <dt>Template</dt><dd>{v.template ?? '—'}</dd>
      <dt>Owner</dt><dd>{v.owner}</dd>
      <dt>Running since</dt><dd>{v.state === 'running' && runningSince !== undefined ? new Date(runningSince).toLocaleString() : '—'}</dd>
      <dt>Id</dt><dd><code>{v.id}</code></dd>
    </dl>
  );
}

type ConsoleTabComponent = typeof VmConsoleTab;

/** The console tab's module, loaded when first wanted: xterm.js is most of the app's size, and most pages never need it. */
function useConsoleTab(wanted: boolean): ConsoleTabComponent | null {
  const [tab, setTab] = useState<ConsoleTabComponent | null>(null);
  useEffect(() => {
    if (!wanted || tab !== null) return;
    import('./vm-console-tab').then((m) => setTab(() => m.VmConsoleTab), () => setTab(null));
  }, [wanted, tab]);
  return tab;
}
