import { useEffect, useRef, useState } from 'preact/hooks';
import type { Vm, VmDetail } from '../api-types';
import { ApiError } from '../api-error';
import { useSession } from '../session-context';
import { navigate } from '../router';
import { ErrorBanner } from './error-banner';
import { formatBytes } from './sparkline';

/** The states the API captures a disk in (src/controller/api/vm-capture-routes.ts); it answers 409 in any other. */
export const CAPTURE_STATES: readonly string[] = ['running', 'poweroff', 'suspended'];

type Kind = 'save-as' | 'clone';
interface Busy { readonly what: string; readonly received?: number; readonly total?: number | undefined }

/**
 * Save-as (an image, and optionally a template), clone and OVA export of a
 * VM. Each copies the VM's disk, which takes a while: the page shows that
 * it is working (and for an export how much has arrived) until the API
 * answers. A refusal names its field and marks that input.
 */
export function VmCaptureActions({ vm }: { vm: VmDetail }) {
  const { api } = useSession();
  const [form, setForm] = useState<Kind | null>(null);
  const [busy, setBusy] = useState<Busy | null>(null);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [done, setDone] = useState('');
  const ac = useRef<AbortController | null>(null);
  useEffect(() => () => ac.current?.abort(), []);
  if (!CAPTURE_STATES.includes(vm.state)) return null;

  const run = async (what: string, job: (signal: AbortSignal) => Promise<string>): Promise<boolean> => {
    setError(undefined);
    setDone('');
    setBusy({ what });
    ac.current = new AbortController();
    try {
      setDone(await job(ac.current.signal));
      return true;
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err), undefined));
      return false;
    } finally {
      setBusy(null);
    }
  };
  const exportOva = (): void => void run('Exporting an OVA', async (signal) => {
    const { blob, fileName } = await api.download(`/vms/${vm.id}/export`, signal, (received, total) => setBusy({ what: 'Exporting an OVA', received, total }));
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = fileName ?? `${vm.name}.ova`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    return `Exported ${a.download} (${formatBytes(blob.size)}).`;
  });
  const submit = async (kind: Kind, fields: Record<string, string>): Promise<void> => {
    const ok = await run(kind === 'clone' ? `Cloning ${vm.name}` : `Saving ${vm.name}'s disk`, async (signal) => {
      if (kind === 'clone') {
        const clone = await api.postLong<Vm>(`/vms/${vm.id}/clone`, { name: fields['name'] }, signal);
        navigate(`/vms/${clone.id}`);
        return `Cloned as ${clone.name}.`;
      }
      const body = { image: fields['image'], ...(fields['template'] !== '' ? { template: fields['template'] } : {}) };
      const out = await api.postLong<{ image: { name: string }; template?: { name: string } }>(`/vms/${vm.id}/save-as`, body, signal);
      return `Saved as image ${out.image.name}${out.template ? ` and template ${out.template.name}` : ''}.`;
    });
    if (ok) setForm(null);
  };

  return (
    <div class="capture">
      <div class="actions" role="group" aria-label="Copy actions">
        <button type="button" disabled={busy !== null} onClick={() => { setError(undefined); setForm('save-as'); }}>Save as…</button>
        <button type="button" disabled={busy !== null} onClick={() => { setError(undefined); setForm('clone'); }}>Clone…</button>
        <button type="button" disabled={busy !== null} onClick={exportOva}>Export OVA</button>
      </div>
      {busy && form === null && <BusyStatus busy={busy} />}
      {done !== '' && <p role="status" class="notice">{done}</p>}
      {form === null && <ErrorBanner error={error} />}
      {form !== null && <CaptureForm kind={form} vm={vm} busy={busy} error={error} onSubmit={(f) => void submit(form, f)} onCancel={() => { ac.current?.abort(); setForm(null); }} />}
    </div>
  );
}

/** The names a save-as or a clone needs, in a form that keeps the focus inside it until it is sent or cancelled. */
function CaptureForm({ kind, vm, busy, error, onSubmit, onCancel }: { kind: Kind; vm: VmDetail; busy: Busy | null; error: ApiError | undefined; onSubmit: (f: Record<string, string>) => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const invalid = (f: string): 'true' | undefined => (error?.field === f ? 'true' : undefined);
  const send = (e: Event): void => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    onSubmit(Object.fromEntries([...data.entries()].map(([k, v]) => [k, typeof v === 'string' ? v.trim() : ''])));
  };
  const title = kind === 'clone' ? `Clone ${vm.name}` : `Save ${vm.name} as an image`;
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="capture-title" onClose={onCancel}>
      <form onSubmit={send}>
        <h2 id="capture-title">{title}</h2>
        <ErrorBanner error={error} />
        {kind === 'clone'
          ? <label>New VM name <input name="name" required defaultValue={`${vm.name}-clone`} aria-invalid={invalid('name')} /></label>
          : <>
            <label>Image name <input name="image" required defaultValue={`${vm.name}-image`} aria-invalid={invalid('image')} /></label>
            <label>Template name (optional) <input name="template" defaultValue="" aria-invalid={invalid('template')} /></label>
          </>}
        <p class="hint">The VM&apos;s disk is copied as it is now{vm.state === 'running' ? ' (crash-consistent: the guest keeps running)' : ''}.</p>
        {busy && <BusyStatus busy={busy} />}
        <div class="buttons">
          <button type="button" onClick={onCancel}>Cancel</button>
          <button type="submit" class="primary" disabled={busy !== null}>{kind === 'clone' ? 'Clone' : 'Save'}</button>
        </div>
      </form>
    </dialog>
  );
}

/** A long job under way: an indeterminate bar, or bytes received of the total when they are known. */
function BusyStatus({ busy }: { busy: Busy }) {
  return (
    <div role="status" class="notice busy">
      {busy.what}… <progress aria-label={busy.what} {...(busy.total !== undefined ? { max: busy.total, value: busy.received ?? 0 } : {})} />
      {busy.received !== undefined && ` ${formatBytes(busy.received)}${busy.total !== undefined ? ` of ${formatBytes(busy.total)}` : ''}`}
    </div>
  );
}
