import { ApiError } from './api-error';

/** How long one API call may take before the dashboard gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Copying or exporting a VM's disk: as long as the API itself allows (src/controller/api/vm-capture-routes.ts). */
const LONG_REQUEST_TIMEOUT_MS = 3_600_000;

/** The native API with the signed-in user's token: JSON in, JSON out, errors as ApiError. */
export class Api {
  constructor(readonly token: string) {}

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const res = await fetch(`/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.text();
    const parsed: unknown = text === '' ? null : safeJson(text);
    if (!res.ok) throw ApiError.from(res.status, parsed);
    return parsed as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** A POST the API answers only when a long job is done (a disk copied): its own, longer timeout. */
  postLong<T>(path: string, body: unknown, signal: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, body, signal, LONG_REQUEST_TIMEOUT_MS);
  }

  /** A GET of a file, read as a stream so the caller can show how much arrived; the whole body as a Blob. */
  async download(path: string, signal: AbortSignal, onBytes: (received: number, total: number | undefined) => void): Promise<{ blob: Blob; fileName: string | undefined }> {
    const res = await fetch(`/api/v1${path}`, { headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.any([signal, AbortSignal.timeout(LONG_REQUEST_TIMEOUT_MS)]) });
    if (!res.ok) throw ApiError.from(res.status, safeJson(await res.text()));
    const length = Number(res.headers.get('content-length') ?? NaN);
    const total = Number.isFinite(length) ? length : undefined;
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let received = 0;
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.byteLength;
      onBytes(received, total);
    }
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
    return { blob: new Blob(chunks, { type: res.headers.get('content-type') ?? 'application/octet-stream' }), fileName: name };
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
