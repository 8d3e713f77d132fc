import WebSocket from 'ws';
import type { NuboClient } from '../client/nubo-client.js';
import { RemoteError, UnreachableError } from '../client/remote-error.js';
import { EXIT } from './exit-codes.js';

/** Ctrl-]: telnet's and virsh's escape, a byte no shell or editor in the guest needs. */
const DETACH = 0x1d;

/**
 * `nubo vm console --attach`: the terminal's keystrokes to the guest's serial
 * port and its output to the terminal, until Ctrl-] (or the console closes).
 * The terminal is raw while attached, so Ctrl-C and Tab reach the guest.
 */
export async function attachConsole(client: NuboClient, id: string, signal: AbortSignal): Promise<number> {
  const url = `${client.baseUrl.replace(/^http/, 'ws')}/api/v1/vms/${encodeURIComponent(id)}/console/attach`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${client.token}` }, handshakeTimeout: 15_000 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (err) => reject(new UnreachableError(url, err.message, { cause: err })));
    // A refusal before the upgrade (404, 409 …) carries the API's JSON error.
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        try {
          const e = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
          reject(new RemoteError(status, e.code, e.message, e.details));
        } catch {
          reject(new RemoteError(status, 'HTTP_ERROR', `console attach refused: HTTP ${status}`, {}));
        }
      });
    });
  });
  const stdin = process.stdin;
  const raw = stdin.isTTY;
  process.stderr.write(`attached to ${id}'s console — Ctrl-] detaches${raw ? '' : ' (stdin is not a terminal: lines are sent as they come)'}\r\n`);
  if (raw) stdin.setRawMode(true);
  try {
    return await new Promise<number>((resolve) => {
      const done = (code: number): void => {
        stdin.off('data', onKey);
        stdin.pause();
        ws.close();
        resolve(code);
      };
      const onKey = (b: Buffer): void => {
        const at = b.indexOf(DETACH);
        if (at >= 0) {
          if (at > 0) ws.send(b.subarray(0, at));
          return done(EXIT.OK);
        }
        ws.send(b);
      };
      stdin.on('data', onKey);
      stdin.resume();
      ws.on('message', (d: Buffer) => process.stdout.write(d));
      ws.on('close', (code, reason) => {
        if (code !== 1000 && code !== 1005) process.stderr.write(`\r\nconsole closed: ${reason.toString() || code}\r\n`);
        done(code === 1000 || code === 1005 ? EXIT.OK : EXIT.FAILED);
      });
      signal.addEventListener('abort', () => done(EXIT.INTERRUPTED), { once: true });
    });
  } finally {
    if (raw) stdin.setRawMode(false);
    process.stderr.write('\r\ndetached\r\n');
  }
}
