import { ApiError } from './api-error';

/** How long an upload may go without any progress before it is given up. */
const STALL_TIMEOUT_MS = 60_000;

/**
 * Sends a file as the body of a POST (application/octet-stream), reporting the
 * bytes sent. XMLHttpRequest rather than fetch: fetch has no upload progress.
 */
export function uploadFile(token: string, path: string, file: Blob, onProgress: (sent: number, total: number) => void, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1${path}`);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.timeout = 0;
    let stall = setTimeout(() => xhr.abort(), STALL_TIMEOUT_MS);
    xhr.upload.onprogress = (e) => {
      clearTimeout(stall);
      stall = setTimeout(() => xhr.abort(), STALL_TIMEOUT_MS);
      onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    };
    const done = (): void => clearTimeout(stall);
    xhr.onload = () => {
      done();
      const body: unknown = (() => { try { return JSON.parse(xhr.responseText) as unknown; } catch { return null; } })();
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(ApiError.from(xhr.status, body));
    };
    xhr.onerror = () => { done(); reject(new ApiError(0, 'NETWORK', 'the upload failed: the connection broke', undefined)); };
    xhr.onabort = () => { done(); reject(new ApiError(0, 'ABORTED', 'the upload was cancelled or stalled', undefined)); };
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
