import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

/**
 * Test support for the CLI suites: a fake controller on 127.0.0.1:0 serving
 * canned answers and recording requests, and a runner of the real CLI entry.
 */

export const TOKEN = 'test-token-0123456789abcdef';

export interface RecordedRequest {
  readonly method: string;
  /** Path with the query string. */
  readonly path: string;
  readonly body: unknown;
  readonly auth: string | undefined;
}

export interface Answer {
  readonly status?: number;
  /** Sent as JSON unless `text` is given. */
  readonly body?: unknown;
  readonly text?: string;
  /** Answered this long after the request came in (a server at work). */
  readonly delayMs?: number;
}

/** Keyed by `METHOD /api/v1/path` (no query string). */
export type Routes = Record<string, (req: RecordedRequest) => Answer>;

export interface FakeApi {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export const apiError = (status: number, code: string, message: string, details: Record<string, unknown> = {}): Answer => ({ status, body: { error: { code, message, details } } });

export async function startFakeApi(routes: Routes): Promise<FakeApi> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const r: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', body: raw === '' ? undefined : req.headers['content-type'] === 'application/octet-stream' ? raw : (JSON.parse(raw) as unknown), auth: req.headers.authorization };
      requests.push(r);
      const route = routes[`${r.method} ${r.path.split('?')[0] ?? ''}`];
      const a: Answer =
        r.auth !== `Bearer ${TOKEN}` ? apiError(401, 'UNAUTHORIZED', 'missing or invalid bearer token')
        : route ? route(r)
        : apiError(404, 'NOT_FOUND', `no route ${r.method} ${r.path}`);
      const status = a.status ?? 200;
      const answer = (): void => {
        if (a.text !== undefined) {
          res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(a.text);
        } else if (a.body === undefined) {
          res.writeHead(status === 200 ? 204 : status).end();
        } else {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
        }
      };
      if (a.delayMs === undefined) answer();
      else setTimeout(answer, a.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const CLI = fileURLToPath(new URL('./nubo.js', import.meta.url));

const homes: string[] = [];
// Each test file runs in its own process: what it made goes when it ends.
process.once('exit', () => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

/** An empty NUBO_HOME, so that no real credentials are picked up; removed when the test process exits. */
export function emptyHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'nubo-cli-test-'));
  homes.push(home);
  return home;
}

/** Runs `nubo …args` with only PATH and the given variables in its environment (stdout is a pipe, not a TTY). */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', NUBO_HOME: emptyHome(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `--url … --token …` for a fake API. */
export const creds = (api: FakeApi): string[] => ['--url', api.url, '--token', TOKEN];
