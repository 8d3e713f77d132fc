import type { z } from 'zod';
import { deadline } from '../util/deadline.js';
import { errorMessage } from '../errors/nubo-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { RemoteError, UnreachableError } from './remote-error.js';
import { keepAliveSend } from './keep-alive-send.js';

export interface JsonRequest<T> {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  readonly url: string;
  readonly token: string;
  readonly body?: unknown;
  /** Parses (and so checks) the answer; omitted for 204 answers. */
  readonly schema?: z.ZodType<T>;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
  /** Instead of a JSON `body`: raw bytes streamed as application/octet-stream with this Content-Length. */
  readonly upload?: { readonly body: AsyncIterable<Uint8Array>; readonly length: number } | undefined;
  /** `text`: the answer is plain text (a console log), returned as is; errors are still JSON. */
  readonly responseType?: 'json' | 'text' | undefined;
  /** Over node:http on kept-alive connections (keep-alive-send.ts) instead of fetch: the controller's calls to agents. Not with `upload`. */
  readonly keepAlive?: boolean | undefined;
}

/**
 * One JSON call to a nubo server with a bearer token and a deadline. Error
 * bodies (`{error: {code, message, details}}`) come back as RemoteError with
 * the server's code, so callers branch on codes, not on text.
 */
export async function jsonRequest<T>(r: JsonRequest<T>): Promise<T> {
  const d = deadline(`${r.method} ${r.url}`, r.timeoutMs ?? 30_000, r.signal);
  let res: { readonly ok: boolean; readonly status: number; text(): Promise<string> };
  try {
    res = r.keepAlive === true && r.upload === undefined ? await sendKeptAlive(r, d.signal) : await fetch(r.url, {
      method: r.method,
      headers: {
        authorization: `Bearer ${r.token}`,
        ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(r.upload !== undefined ? { 'content-type': 'application/octet-stream', 'content-length': String(r.upload.length) } : {}),
      },
      ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : {}),
      // undici streams an async iterable body (half duplex); the explicit Content-Length lets the server check the size.
      ...(r.upload !== undefined ? { body: r.upload.body, duplex: 'half' } : {}),
      signal: d.signal,
    });
    const text = await res.text();
    if (!res.ok) {
      let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // Not one of ours (a proxy, a crash page): keep the status.
      }
      throw new RemoteError(res.status, body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? `${r.method} ${r.url}: HTTP ${res.status}`, body.error?.details ?? {});
    }
    if (r.responseType === 'text') return text as T;
    if (!r.schema) return undefined as T;
    return r.schema.parse(text === '' ? undefined : JSON.parse(text));
  } catch (err) {
    if (err instanceof RemoteError) throw err;
    if (d.signal.aborted && d.signal.reason instanceof TimeoutError) throw new UnreachableError(r.url, d.signal.reason.message, { cause: err });
    if (r.signal?.aborted) throw err;
    if (err instanceof TypeError) {
      const cause = (err as { cause?: unknown }).cause;
      // fetch's own words for a connection it never made: the request was not sent.
      const code = (cause as { code?: unknown } | undefined)?.code;
      const notSent = code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT';
      throw new UnreachableError(r.url, errorMessage(cause ?? err), { cause: err, notSent });
    }
    throw err;
  } finally {
    d.dispose();
  }
}

async function sendKeptAlive<T>(r: JsonRequest<T>, signal: AbortSignal): Promise<{ readonly ok: boolean; readonly status: number; text(): Promise<string> }> {
  let a: Awaited<ReturnType<typeof keepAliveSend>>;
  try {
    a = await keepAliveSend({
      method: r.method,
      url: r.url,
      headers: { authorization: `Bearer ${r.token}`, ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: r.body !== undefined ? JSON.stringify(r.body) : undefined,
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw err; // the deadline's or the caller's: told apart by jsonRequest, as for fetch
    if (err instanceof UnreachableError) throw err; // no connection was made (keepAliveSend says so)
    // A socket's error (ECONNREFUSED, ECONNRESET, a connection closed mid-answer): no answer from the server.
    throw new UnreachableError(r.url, errorMessage(err), { cause: err });
  }
  return { ok: a.status >= 200 && a.status < 300, status: a.status, text: async () => a.text };
}
