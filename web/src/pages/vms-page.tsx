import { useMemo, useState } from 'preact/hooks';
import type { Vm } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { Link } from '../components/link';
import { StateBadge } from '../components/state-badge';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog';
import { VM_ACTIONS } from '../vm-actions';
import { useRowWindow } from '../use-row-window';

type SortKey = 'name' | 'state' | 'host' | 'owner' | 'createdAt';

/** The VMs the caller may see: search, a state filter, sorting by column, and one action for the selected ones. */
export function VmsPage() {
  const { api, isAdmin } = useSession();
  const vms = useLive((a, signal) => a.get<Vm[]>('/vms', signal), [], (e) => e.resource === 'vm');
  const [query, setQuery] = useState('');
  const [state, setState] = useState(new URLSearchParams(location.search).get('state') ?? '');
  const [sort, setSort] = useState<{ key: SortKey; up: boolean }>({ key: 'name', up: true });
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [notice, setNotice] = useState('');

  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    const list = (vms.data ?? []).filter((v) => (state === '' ? v.state !== 'terminated' : v.state === state)
      && (q === '' || [v.name, v.id, v.owner, v.host ?? '', v.template ?? ''].some((f) => f.toLowerCase().includes(q))));
    const k = sort.key;
    return list.sort((a, b) => (sort.up ? 1 : -1) * String(a[k] ?? '').localeCompare(String(b[k] ?? '')));
  }, [vms.data, query, state, sort]);
  const states = [...new Set((vms.data ?? []).map((v) => v.state))].sort();
  const win = useRowWindow(rows.length);

  const toggle = (id: string): void => setSelected((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id); else n.add(id);
    return n;
  });
  const runBulk = async (action: string): Promise<void> => {
    const chosen = rows.filter((v) => selected.has(v.id));
    const failed: string[] = [];
    let lastError: ApiError | undefined;
    for (const v of chosen) {
      try {
        await api.post(`/vms/${v.id}/actions/${action}`);
      } catch (err) {
        failed.push(v.name);
        if (err instanceof ApiError) lastError = err;
      }
    }
    setError(lastError);
    setNotice(`${action}: ${chosen.length - failed.length} of ${chosen.length} accepted${failed.length > 0 ? `; refused for ${failed.join(', ')}` : ''}`);
    setSelected(new Set());
    vms.reload();
  };
  const bulk = (action: string): void => {
    const info = VM_ACTIONS.find((a) => a.action === action);
    if (!info) return;
    const n = rows.filter((v) => selected.has(v.id)).length;
    if (info.destructive) setConfirm({ title: `${info.label} ${n} VMs?`, message: `This cannot be undone for the ${n} selected VMs.`, confirmLabel: info.label, onConfirm: () => void runBulk(action) });
    else void runBulk(action);
  };
  const header = (key: SortKey, label: string) => (
    <th aria-sort={sort.key === key ? (sort.up ? 'ascending' : 'descending') : 'none'}>
      <button type="button" class="sort" onClick={() => setSort((s) => ({ key, up: s.key === key ? !s.up : true }))}>{label}</button>
    </th>
  );

  return (
    <div>
      <div class="title-row">
        <h1>Virtual machines</h1>
        <Link href="/vms/new" class="button primary">Create VM</Link>
      </div>
      <ErrorBanner error={vms.error ?? error} />
      {notice !== '' && <p role="status" class="notice">{notice}</p>}
      <div class="toolbar">
        <label>Search <input type="search" value={query} onInput={(e) => setQuery((e.currentTarget).value)} placeholder="name, id, owner, host" /></label>
        <label>State <select value={state} onChange={(e) => setState((e.currentTarget).value)}>
          <option value="">all but terminated</option>
          {states.map((s) => <option key={s} value={s}>{s}</option>)}
        </select></label>
        <label>With selected <select aria-label="Action for the selected VMs" disabled={selected.size === 0} value="" onChange={(e) => { bulk((e.currentTarget).value); (e.currentTarget).value = ''; }}>
          <option value="">choose an action…</option>
          {VM_ACTIONS.filter((a) => isAdmin || a.adminOnly !== true).map((a) => <option key={a.action} value={a.action}>{a.label}</option>)}
        </select></label>
      </div>
      {vms.data !== undefined && <p class="hint" data-testid="vm-count">{rows.length} VMs{rows.length !== vms.data.length ? ` shown of ${vms.data.length}` : ''}</p>}
      {/* Only the rows in view are in the DOM (a thousand rows took most of the page's first load); the box scrolls, the header stays. */}
      <div class="table-wrap virtual" ref={win.ref}>
        <table class="list" aria-label="VMs" aria-rowcount={rows.length + 1}>
          <thead><tr>
            <th><input type="checkbox" aria-label="Select all" checked={rows.length > 0 && rows.every((v) => selected.has(v.id))}
              onChange={(e) => setSelected((e.currentTarget).checked ? new Set(rows.map((v) => v.id)) : new Set())} /></th>
            {header('name', 'Name')}{header('state', 'State')}{header('host', 'Host')}{header('owner', 'Owner')}
            <th>Size</th>{header('createdAt', 'Created')}
          </tr></thead>
          <tbody>
            {win.padTop > 0 && <tr aria-hidden="true" style={{ height: `${win.padTop}px` }} />}
            {rows.slice(win.start, win.end).map((v, i) => (
              <tr key={v.id} data-vm={v.name} data-row="" aria-rowindex={win.start + i + 2}>
                <td><input type="checkbox" aria-label={`Select ${v.name}`} checked={selected.has(v.id)} onChange={() => toggle(v.id)} /></td>
                <td><Link href={`/vms/${v.id}`}>{v.name}</Link></td>
                <td><StateBadge state={v.state} /></td>
                <td>{v.host ?? '—'}</td>
                <td>{v.owner}</td>
                <td>{v.vcpus} vCPU, {v.memoryMiB} MiB</td>
                <td><time dateTime={v.createdAt}>{new Date(v.createdAt).toLocaleString()}</time></td>
              </tr>
            ))}
            {win.padBottom > 0 && <tr aria-hidden="true" style={{ height: `${win.padBottom}px` }} />}
            {vms.data !== undefined && rows.length === 0 && <tr><td colSpan={7} class="muted">No VMs match.</td></tr>}
          </tbody>
        </table>
      </div>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}
