import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's layer rule (ARCHITECTURE.md): web/ talks to the controller
 * only through the native API over HTTP, so it imports nothing from src/ —
 * no server code, not even the contract (its few wire types are its own,
 * web/src/api-types.ts) — and no node: module; only its own files and the
 * browser packages listed here.
 */
const WEB_PACKAGES = ['preact', 'preact/hooks', '@xterm/xterm', '@xterm/xterm/css/xterm.css', '@microsoft/fetch-event-source', 'vite'];

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (/\.(ts|tsx)$/.test(e.name)) out.push(p);
  }
  return out;
}

test('web/ imports only its own files and its browser packages, never src/ or node:', async () => {
  const files = await sources(WEB);
  assert.ok(files.length > 10, `the dashboard's sources are found under ${WEB}`);
  const bad: string[] = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1] ?? m[2] ?? '';
      // A relative import must stay inside web/; anything else must be a listed package.
      const ok = spec.startsWith('.') ? resolve(dirname(f), spec).startsWith(WEB) : WEB_PACKAGES.includes(spec);
      if (!ok) bad.push(`${f.slice(WEB.length)}: ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});
