import { useState } from 'preact/hooks';
import type { Network, Template, User, Vm, Zone } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { navigate } from '../router';
import { ErrorBanner } from '../components/error-banner';

const STEPS = ['Template', 'Size', 'Details', 'Review'] as const;

interface Draft {
  template: string; name: string; vcpus: string; memoryMiB: string; userData: string; requirements: string; sshKey: string;
  /** The cluster (availability zone) asked for; empty: the template's, or any. */
  cluster: string;
  /** Networks of the VM's own NICs, in the order checked; none: the template's NICs. */
  nics: string[];
}

/** The create wizard: a template, its size, name/user data/placement/NICs, then a review; the API's refusal names the field and sends the user to its step. */
export function VmCreatePage() {
  const { api, user } = useSession();
  const templates = useLive((a, signal) => a.get<Template[]>('/templates', signal), [], (e) => e.resource === 'template');
  const networks = useLive((a, signal) => a.get<Network[]>('/networks', signal), [], (e) => e.resource === 'network');
  const zones = useLive((a, signal) => a.get<Zone[]>('/zones', signal), [], (e) => e.resource === 'cluster' || e.resource === 'host');
  const [step, setStep] = useState(0);
  const [d, setD] = useState<Draft>({ template: '', name: '', vcpus: '', memoryMiB: '', userData: '', requirements: '', sshKey: '', cluster: '', nics: [] });
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const tpl = templates.data?.find((t) => t.name === d.template);
  const set = (k: keyof Draft) => (e: Event): void => setD({ ...d, [k]: (e.currentTarget as HTMLInputElement).value });
  const invalid = (field: string): boolean => error?.field === field;
  const toggleNic = (name: string) => (): void => setD({ ...d, nics: d.nics.includes(name) ? d.nics.filter((n) => n !== name) : [...d.nics, name] });

  const create = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      if (d.sshKey.trim() !== '') await api.request<User>('PUT', '/users/me/ssh-keys', { sshKeys: [...user.sshKeys, d.sshKey.trim()] });
      const body: Record<string, unknown> = { template: d.template };
      if (d.name.trim() !== '') body['name'] = d.name.trim();
      if (d.vcpus !== '') body['vcpus'] = Number(d.vcpus);
      if (d.memoryMiB !== '') body['memoryMiB'] = Number(d.memoryMiB);
      if (d.userData !== '') body['userData'] = d.userData;
      if (d.requirements.trim() !== '') body['requirements'] = d.requirements.trim();
      if (d.cluster !== '') body['cluster'] = d.cluster;
      if (d.nics.length > 0) body['nics'] = d.nics.map((network) => ({ network }));
      const vm = await api.post<Vm>('/vms', body);
      navigate(`/vms/${vm.id}`);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, 'NETWORK', String(err), undefined);
      setError(e);
      const f = e.field?.split('.')[0] ?? '';
      setStep(f === 'template' ? 0 : f === 'vcpus' || f === 'memoryMiB' ? 1 : ['name', 'userData', 'requirements', 'cluster', 'sshKeys', 'nics'].includes(f) ? 2 : 3);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="wizard">
      <h1>Create a VM</h1>
      <ol class="steps" aria-label="Steps">
        {STEPS.map((s, i) => <li key={s} aria-current={i === step ? 'step' : undefined} class={i === step ? 'current' : i < step ? 'done' : ''}>{i + 1}. {s}</li>)}
      </ol>
      <ErrorBanner error={templates.error ?? error} />
      <form onSubmit={(e) => { e.preventDefault(); if (step < STEPS.length - 1) setStep(step + 1); else void create(); }}>
        {step === 0 && (
          <fieldset>
            <legend>Template</legend>
            {(templates.data ?? []).map((t) => (
              <label key={t.id} class="choice">
                <input type="radio" name="template" value={t.name} checked={d.template === t.name} onChange={set('template')} required aria-invalid={invalid('template')} />
                <strong>{t.name}</strong> — {t.vcpus} vCPU, {t.memoryMiB} MiB, image {t.image}{t.nics.length > 0 ? `, NICs on ${t.nics.map((n) => n.network ?? 'no network').join(', ')}` : ''}
              </label>
            ))}
            {templates.data?.length === 0 && <p class="muted">No templates: an admin creates them (nubo template create).</p>}
          </fieldset>
        )}
        {step === 1 && (
          <fieldset>
            <legend>Size</legend>
            <label>vCPUs <input type="number" name="vcpus" min={1} max={64} placeholder={String(tpl?.vcpus ?? '')} value={d.vcpus} onInput={set('vcpus')} aria-invalid={invalid('vcpus')} /></label>
            <label>Memory (MiB) <input type="number" name="memoryMiB" min={64} placeholder={String(tpl?.memoryMiB ?? '')} value={d.memoryMiB} onInput={set('memoryMiB')} aria-invalid={invalid('memoryMiB')} /></label>
            <p class="hint">Empty: the template's size.</p>
          </fieldset>
        )}
        {step === 2 && (
          <fieldset>
            <legend>Details</legend>
            <label>Name <input name="name" value={d.name} onInput={set('name')} placeholder="generated when empty" aria-invalid={invalid('name')} /></label>
            <label>SSH public key to add <input name="sshKey" value={d.sshKey} onInput={set('sshKey')} placeholder={`ssh-ed25519 AAAA… (you have ${user.sshKeys.length})`} aria-invalid={invalid('sshKeys.0') || invalid('sshKeys')} /></label>
            <label>User data <textarea name="userData" rows={4} value={d.userData} onInput={set('userData')} aria-invalid={invalid('userData')} /></label>
            <label>Placement requirements <input name="requirements" value={d.requirements} onInput={set('requirements')} placeholder={'e.g. CPU_MODEL == "host"'} aria-invalid={invalid('requirements')} /></label>
            <label>Cluster (availability zone)
              <select name="cluster" value={d.cluster} onChange={set('cluster')} aria-invalid={invalid('cluster')}>
                <option value="">{tpl?.cluster !== undefined ? `the template's (${tpl.cluster})` : 'any'}</option>
                {(zones.data ?? []).map((z) => <option key={z.name} value={z.name}>{z.name} ({z.hosts} host{z.hosts === 1 ? '' : 's'})</option>)}
              </select>
            </label>
            <fieldset class="nics">
              <legend>NICs</legend>
              {(networks.data ?? []).map((n) => (
                <label key={n.id} class="choice">
                  <input type="checkbox" name="nic" value={n.name} checked={d.nics.includes(n.name)} onChange={toggleNic(n.name)} aria-invalid={error?.field?.startsWith('nics') === true} />
                  {' '}{n.name} <span class="muted">{n.cidr}, {n.addresses.free} free</span>
                </label>
              ))}
              <p class="hint">One NIC per network checked, in that order. None checked: the template's{tpl !== undefined && tpl.nics.length > 0 ? ` (${tpl.nics.map((n) => n.network ?? 'no network').join(', ')})` : ''}.</p>
            </fieldset>
          </fieldset>
        )}
        {step === 3 && (
          <dl class="review">
            <dt>Template</dt><dd>{d.template}</dd>
            <dt>Name</dt><dd>{d.name || '(generated)'}</dd>
            <dt>Size</dt><dd>{d.vcpus || tpl?.vcpus} vCPU, {d.memoryMiB || tpl?.memoryMiB} MiB</dd>
            {d.requirements !== '' && <><dt>Requirements</dt><dd><code>{d.requirements}</code></dd></>}
            <dt>Cluster</dt><dd>{d.cluster !== '' ? d.cluster : tpl?.cluster !== undefined ? `${tpl.cluster} (the template's)` : 'any'}</dd>
            <dt>NICs</dt><dd>{d.nics.length > 0 ? d.nics.join(', ') : `as the template${tpl !== undefined && tpl.nics.length > 0 ? `: ${tpl.nics.map((n) => n.network ?? 'no network').join(', ')}` : ''}`}</dd>
            {d.userData !== '' && <><dt>User data</dt><dd>{d.userData.length} characters</dd></>}
          </dl>
        )}
        <div class="buttons">
          {step > 0 && <button type="button" onClick={() => setStep(step - 1)}>Back</button>}
          {step < STEPS.length - 1
            ? <button type="submit" class="primary" disabled={step === 0 && d.template === ''}>Next</button>
            : <button type="submit" class="primary" disabled={busy}>Create</button>}
        </div>
      </form>
    </div>
  );
}
