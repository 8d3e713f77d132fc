import { connect as connectUnix, type Socket } from 'node:net';
import WebSocket, { type RawData } from 'ws';

/** At most this much of what was typed is held while the far end is still connecting. */
const MAX_PENDING_BYTES = 64 * 1024;
/** How long the far end may take to connect before the attach is given up. */
const CONNECT_TIMEOUT_MS = 10_000;

/** One end of a console attach: bytes in, bytes out, closed either way. */
interface FarEnd {
  write(b: Buffer): void;
  close(): void;
}

const toBuffer = (d: RawData): Buffer => (Array.isArray(d) ? Buffer.concat(d) : Buffer.isBuffer(d) ? d : Buffer.from(d));
// A close reason is at most 123 bytes.
const reasonOf = (err: unknown): string => Buffer.from(err instanceof Error ? err.message : String(err)).subarray(0, 120).toString();

/**
 * Splices an accepted WebSocket to a far end opened by `open` (a console
 * socket, or the next hop's WebSocket). Keystrokes that arrive while the far
 * end connects are held, not dropped: the handler must listen at once, since
 * the client may type before the far end answers.
 */
function splice(ws: WebSocket, open: (onData: (b: Buffer) => void, onClose: (err?: unknown) => void) => Promise<FarEnd>): void {
  let far: FarEnd | undefined;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let closed = false;
  const end = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    far?.close();
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
  };
  ws.on('message', (d: RawData) => {
    const b = toBuffer(d);
    if (far) return far.write(b);
    pendingBytes += b.length;
    if (pendingBytes > MAX_PENDING_BYTES) return end(1009, 'too much input before the console answered');
    pending.push(b);
  });
  ws.on('close', () => end(1000, 'closed'));
  ws.on('error', () => end(1011, 'client error'));
  const timer = setTimeout(() => end(1011, 'the console did not answer in time'), CONNECT_TIMEOUT_MS);
  open(
    (b) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(b);
    },
    (err) => end(err === undefined ? 1000 : 1011, err === undefined ? 'console closed' : reasonOf(err)),
  ).then(
    (f) => {
      clearTimeout(timer);
      if (closed) return f.close();
      far = f;
      for (const b of pending) f.write(b);
      pending = [];
    },
    (err: unknown) => {
      clearTimeout(timer);
      end(1011, reasonOf(err));
    },
  );
}

/** A client WebSocket to a VM's serial console socket (a unix socket QEMU serves). */
export function spliceToUnixSocket(ws: WebSocket, path: () => Promise<string>): void {
  splice(ws, async (onData, onClose) => {
    const p = await path();
    const sock: Socket = await new Promise((resolve, reject) => {
      const s = connectUnix(p);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    sock.on('data', onData);
    sock.on('error', (err) => onClose(err));
    sock.on('close', () => onClose());
    return { write: (b) => void sock.write(b), close: () => sock.destroy() };
  });
}

/** A client WebSocket to the next hop's console WebSocket (the controller to a host's agent). */
export function spliceToWebSocket(ws: WebSocket, url: string, token: string): void {
  splice(ws, async (onData, onClose) => {
    const next = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: CONNECT_TIMEOUT_MS });
    await new Promise<void>((resolve, reject) => {
      next.once('open', () => resolve());
      next.once('error', reject);
      next.once('unexpected-response', (_req, res) => reject(new Error(`the host answered ${res.statusCode ?? 0}`)));
    });
    next.on('message', (d: RawData) => onData(toBuffer(d)));
    next.on('close', (code, reason) => onClose(code === 1000 ? undefined : new Error(reason.toString() || `closed (${code})`)));
    next.on('error', (err) => onClose(err));
    return { write: (b) => next.send(b), close: () => next.close() };
  });
}
