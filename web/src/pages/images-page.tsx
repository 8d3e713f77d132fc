import { useRef, useState } from 'preact/hooks';
import type { Image, Template } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { uploadFile } from '../upload-file';

const FORMATS = ['', 'qcow2', 'raw', 'vmdk', 'vdi', 'kernel', 'initrd'];

/** Templates and images; admins upload an image (or an OVA) with a progress bar. */
export function ImagesPage() {
  const { isAdmin } = useSession();
  const templates = useLive((a, signal) => a.get<Template[]>('/templates', signal), [], (e) => e.resource === 'template' || e.resource === 'image');
  const images = useLive((a, signal) => a.get<Image[]>('/images', signal), [], (e) => e.resource === 'image');
  return (
    <div>
      <h1>Templates &amp; images</h1>
      <ErrorBanner error={templates.error ?? images.error} />
      <h2>Templates</h2>
      <table class="list" aria-label="Templates">
        <thead><tr><th>Name</th><th>Size</th><th>Image</th><th>NICs</th><th>Owner</th></tr></thead>
        <tbody>{(templates.data ?? []).map((t) => <tr key={t.id}><td>{t.name}</td><td>{t.vcpus} vCPU, {t.memoryMiB} MiB</td><td>{t.image}</td><td>{t.nics.map((n) => n.network ?? 'none').join(', ')}</td><td>{t.owner}</td></tr>)}</tbody>
      </table>
      <h2>Images</h2>
      <table class="list" aria-label="Images">
        <thead><tr><th>Name</th><th>Format</th><th>Size</th><th>Owner</th><th>Added</th></tr></thead>
        <tbody>{(images.data ?? []).map((i) => <tr key={i.id}><td>{i.name}</td><td>{i.format}</td><td>{(i.sizeBytes / 1048576).toFixed(1)} MiB</td><td>{i.owner}</td><td>{new Date(i.createdAt).toLocaleString()}</td></tr>)}</tbody>
      </table>
      {isAdmin && <Upload onDone={() => { images.reload(); templates.reload(); }} />}
    </div>
  );
}

function Upload({ onDone }: { onDone: () => void }) {
  const { api } = useSession();
  const file = useRef<HTMLInputElement>(null);
  const [name, setName] = useState('');
  const [format, setFormat] = useState('');
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [notice, setNotice] = useState('');
  const cancel = useRef<AbortController | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const f = file.current?.files?.[0];
    if (!f) return;
    setError(undefined);
    setNotice('');
    const ova = f.name.toLowerCase().endsWith('.ova');
    const q = new URLSearchParams();
    if (name.trim() !== '') q.set('name', name.trim());
    if (!ova && format !== '') q.set('format', format);
    cancel.current = new AbortController();
    try {
      await uploadFile(api.token, `${ova ? '/templates/import/upload' : '/images/upload'}?${q.toString()}`, f, (sent, total) => setProgress({ sent, total }), cancel.current.signal);
      setNotice(`${f.name} uploaded${ova ? ' and imported as a template' : ''}.`);
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    } finally {
      setProgress(null);
      cancel.current = null;
    }
  };
  const pct = progress && progress.total > 0 ? Math.round((progress.sent / progress.total) * 100) : 0;
  return (
    <section aria-labelledby="upload-h">
      <h2 id="upload-h">Upload an image or an OVA</h2>
      <ErrorBanner error={error} />
      {notice !== '' && <p role="status" class="notice">{notice}</p>}
      <form class="inline" onSubmit={(e) => void submit(e)}>
        <label>File <input ref={file} type="file" required /></label>
        <label>Name <input value={name} onInput={(e) => setName((e.currentTarget).value)} aria-invalid={error?.field === 'name'} placeholder="required for an image" /></label>
        <label>Format <select value={format} onChange={(e) => setFormat((e.currentTarget).value)}>
          {FORMATS.map((f) => <option key={f} value={f}>{f === '' ? 'detect' : f}</option>)}
        </select></label>
        <button type="submit" disabled={progress !== null}>Upload</button>
        {progress !== null && <>
          <label class="progress">Uploading <progress max={100} value={pct}>{pct} %</progress> {pct} %</label>
          <button type="button" onClick={() => cancel.current?.abort()}>Cancel upload</button>
        </>}
      </form>
    </section>
  );
}
