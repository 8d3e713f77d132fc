import { runCommand } from '../../src/util/run-command.js';

export interface NsHttpResult {
  readonly status: number;
  readonly length: number;
  readonly text: string;
}

// Runs inside the namespace. Debian's busybox-static wget segfaults there (its static
// resolver), so the client is node itself.
const CLIENT = `
const http = require('node:http');
const [url, timeout] = process.argv.slice(1);
const req = http.get(url, { timeout: Number(timeout) }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => {
    const body = Buffer.concat(chunks);
    process.stdout.write(JSON.stringify({ status: res.statusCode, length: body.length, text: body.subarray(0, 65536).toString('latin1') }));
  });
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => { process.stderr.write(String(e.message)); process.exit(3); });
`;

/** HTTP GET from inside a network namespace, where the lab's guests are reachable. */
export async function nsHttpGet(netns: string, url: string, timeoutMs = 5_000): Promise<NsHttpResult> {
  const { stdout } = await runCommand('ip', ['netns', 'exec', netns, process.execPath, '-e', CLIENT, url, String(timeoutMs)], { timeoutMs: timeoutMs + 5_000 });
  return JSON.parse(stdout) as NsHttpResult;
}
