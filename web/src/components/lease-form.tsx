import { useState } from 'preact/hooks';
import type { CapacityLease, Template } from '../api-types';
import { ApiError } from '../api-error';
import { useSession } from '../session-context';
import { ErrorBanner } from './error-banner';

type LeaseType = 'ar' | 'be' | 'immediate';

interface Draft { type: LeaseType; start: string; minutes: string; template: string; count: string; vcpus: string; memoryMiB: string; preemptible: boolean }

const TYPES: readonly [LeaseType, string, string][] = [
  ['ar', 'Advance reservation', 'at a start time you choose, for its whole window; never preempted'],
  ['be', 'Best effort', 'queued until capacity is free; may be suspended for a reservation'],
  ['immediate', 'Immediate', 'now, or refused'],
];

/** A datetime-local value (the browser's zone) as ISO 8601 with a zone, as the API wants; text it cannot read goes as typed, for the API to name. */
function isoStart(local: string): string | undefined {
  if (local === '') return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? local : t.toISOString();
}

/** A datetime-local value one hour from now, on the minute: the form's suggestion for a reservation. */
function inAnHour(): string {
  const d = new Date(Date.now() + 3_600_000);
  d.setSeconds(0, 0);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * Asks for a lease (`POST /leases`): the kind, its window (an AR's start,
 * every kind's duration), the template and how many VMs of what size. The
 * API decides; a refusal is shown with the field it names, marked in the form.
 */
export function LeaseForm({ templates, onCreated }: { templates: readonly Template[]; onCreated: (l: CapacityLease) => void }) {
  const { api } = useSession();
  const [d, setD] = useState<Draft>({ type: 'ar', start: inAnHour(), minutes: '60', template: templates[0]?.name ?? '', count: '1', vcpus: '', memoryMiB: '', preemptible: true });
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof Draft) => (e: Event): void => {
    const el = e.currentTarget as HTMLInputElement;
    setD((x) => ({ ...x, [k]: el.type === 'checkbox' ? el.checked : el.value }));
  };
  const invalid = (field: string): boolean => error?.field === field;
  const num = (s: string): number | undefined => (s.trim() === '' ? undefined : Number(s));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    const minutes = num(d.minutes);
    const body = {
      type: d.type, template: d.template,
      ...(d.type === 'ar' && isoStart(d.start) !== undefined ? { start: isoStart(d.start) } : {}),
      ...(minutes !== undefined ? { durationS: Math.round(minutes * 60) } : {}),
      ...(num(d.count) !== undefined ? { count: num(d.count) } : {}),
      ...(num(d.vcpus) !== undefined ? { vcpus: num(d.vcpus) } : {}),
      ...(num(d.memoryMiB) !== undefined ? { memoryMiB: num(d.memoryMiB) } : {}),
      ...(d.type === 'be' ? { preemptible: d.preemptible } : {}),
    };
    try {
      const l = await api.post<CapacityLease>('/leases', body);
      setError(undefined);
      onCreated(l);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'NETWORK', String(err), undefined));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="lease-form" aria-labelledby="lease-form-h" onSubmit={(e) => void submit(e)} noValidate>
      <h2 id="lease-form-h">Request a lease</h2>
      <ErrorBanner error={error} />
      <fieldset>
        <legend>Kind</legend>
        {TYPES.map(([t, label, hint]) => (
          <label key={t} class="choice">
            <input type="radio" name="type" value={t} checked={d.type === t} onChange={set('type')} aria-invalid={invalid('type')} />
            <span><strong>{label}</strong> <span class="hint">{hint}</span></span>
          </label>
        ))}
      </fieldset>
      <div class="toolbar">
        {d.type === 'ar' && <label>Start <input type="datetime-local" name="start" value={d.start} onInput={set('start')} aria-invalid={invalid('start')} /></label>}
        <label>Duration (minutes) <input type="number" name="minutes" min={1} value={d.minutes} onInput={set('minutes')} aria-invalid={invalid('durationS')} /></label>
        <label>Template <select name="template" value={d.template} onChange={set('template')} aria-invalid={invalid('template')}>
          {templates.map((t) => <option key={t.id} value={t.name}>{t.name} ({t.vcpus} vCPU, {t.memoryMiB} MiB)</option>)}
        </select></label>
        <label>VMs <input type="number" name="count" min={1} max={1000} value={d.count} onInput={set('count')} aria-invalid={invalid('count')} /></label>
        <label>vCPUs each <input type="number" name="vcpus" min={1} placeholder="template's" value={d.vcpus} onInput={set('vcpus')} aria-invalid={invalid('vcpus')} /></label>
        <label>Memory each (MiB) <input type="number" name="memoryMiB" min={64} placeholder="template's" value={d.memoryMiB} onInput={set('memoryMiB')} aria-invalid={invalid('memoryMiB')} /></label>
        {d.type === 'be' && <label class="choice"><input type="checkbox" name="preemptible" checked={d.preemptible} onChange={set('preemptible')} /> Preemptible</label>}
      </div>
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Requesting…' : 'Request lease'}</button>
    </form>
  );
}
