import http from 'node:http';
import https from 'node:https';
import { errorMessage } from '../errors/nubo-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { UnreachableError } from './remote-error.js';

/** One request as `keepAliveSend` makes it: a method, a URL, headers and an optional text body. */
export interface KeepAliveRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly signal: AbortSignal;
  /** How long a new connection may take to be made (default 10 s, as fetch's); a kept-alive one is ready. */
  readonly connectTimeoutMs?: number | undefined;
}

/** What came back: the status and the whole body as text. */
export interface KeepAliveAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * Connections to each agent kept open between calls. An idle one is closed
 * by us after 30 s — before the agent's server would (Fastify keeps one 72 s),
 * so a call never goes out on a connection the other end is closing.
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: 30_000 }),
  'https:': new https.Agent({ keepAlive: true, timeout: 30_000 }),
};

/**
 * One HTTP call over node:http on kept-alive connections, for the
 * controller's many small calls to agents: WHATWG fetch cost ~1.2 ms of the
 * controller's CPU per GET (its Request, Headers, Response and stream objects),
 * a thousand hosts' metrics every 5 s the largest share of an idle
 * controller's time (bench/scale.ts profile); this path costs a fraction.
 * Rejects with the signal's reason when it aborts (as fetch does); with an
 * UnreachableError marked `notSent` when the connection was never made
 * (refused, unreachable, or not made within `connectTimeoutMs`: nothing of
 * the request left this process, so the server did nothing); with the
 * socket's error (ECONNRESET, a connection closed mid-answer …) when the
 * request may have reached the server and there is no answer.
 */
export function keepAliveSend(r: KeepAliveRequest): Promise<KeepAliveAnswer> {
  const url = new URL(r.url);
  const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<KeepAliveAnswer>((resolve, reject) => {
    if (r.signal.aborted) {
      reject(r.signal.reason as Error);
      return;
    }
    const headers: Record<string, string> = { ...r.headers };
    if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
    const req = send(url, { method: r.method, headers, agent });
    // Whether a connection to the server was made: until then nothing of the request can have been sent.
    let connected = false;
    let connectTimer: NodeJS.Timeout | undefined;
    req.once('socket', (socket) => {
      if (!socket.connecting) {
        connected = true; // a kept-alive connection, made before
        return;
      }
      const ms = r.connectTimeoutMs ?? 10_000;
      connectTimer = setTimeout(() => req.destroy(new TimeoutError(`connecting to ${url.host}`, ms)), ms);
      socket.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
      });
    });
    const onAbort = (): void => {
      clearTimeout(connectTimer);
      req.destroy();
      reject(r.signal.reason as Error);
    };
    r.signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(connectTimer);
      r.signal.removeEventListener('abort', onAbort);
    };
    req.on('error', (err) => {
      done();
      if (r.signal.aborted) reject(r.signal.reason as Error);
      else reject(connected ? err : new UnreachableError(r.url, `${errorMessage(err)} (no connection was made: the request was not sent)`, { cause: err, notSent: true }));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        done();
        reject(r.signal.aborted ? (r.signal.reason as Error) : err);
      });
      // The connection ended before the answer did (the agent died mid-answer).
      res.on('close', () => {
        if (res.complete) return;
        done();
        reject(r.signal.aborted ? (r.signal.reason as Error) : new Error('the connection closed before the answer ended'));
      });
      res.on('end', () => {
        done();
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(r.body);
  });
}
