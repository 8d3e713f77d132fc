import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { registerDashboard, DASHBOARD_SECTIONS } from './dashboard-static.js';

async function withBuild(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-dashboard-static-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('with a build: index.html at / and every section (deep links too), the assets as files, other paths left to the 404', async () => {
  await withBuild(async (dir) => {
    await writeFile(join(dir, 'index.html'), '<div id="app"></div>');
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
    const app = Fastify();
    app.get('/api/v1/vms', async () => []);
    assert.equal(await registerDashboard(app, dir), true);
    for (const path of ['/', ...DASHBOARD_SECTIONS.map((s) => `/${s}`), '/vms/some-id/console']) {
      const res = await app.inject({ method: 'GET', url: path });
      assert.equal(res.statusCode, 200, path);
      assert.equal(res.body, '<div id="app"></div>', path);
      assert.equal(res.headers['cache-control'], 'no-cache', path);
    }
    const js = await app.inject({ method: 'GET', url: '/assets/index-abc.js' });
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    for (const path of ['/api/v1/nope', '/metrics', '/assets/missing.js', '/elsewhere', '/index.html']) {
      assert.equal((await app.inject({ method: 'GET', url: path })).statusCode, 404, path);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/vms' })).body, '[]', 'the API keeps its routes');
    await app.close();
  });
});

test('without a build (tsc alone) nothing is registered and / is a 404', async () => {
  await withBuild(async (dir) => {
    const app = Fastify();
    assert.equal(await registerDashboard(app, dir), false);
    assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 404);
    await app.close();
  });
});

test('every section the web app routes to is one the controller answers with the page', async () => {
  // web/ is built by Vite, not by this tsc: its router's list is read from its source.
  const router = await readFile(fileURLToPath(new URL('../../../web/src/router.ts', import.meta.url)), 'utf8');
  const listed = /SECTIONS = \[([^\]]*)\]/.exec(router)?.[1];
  assert.ok(listed !== undefined, 'web/src/router.ts lists its SECTIONS');
  const sections = [...listed.matchAll(/'([^']+)'/g)].map((m) => m[1]);
  assert.ok(sections.length >= 5);
  for (const s of sections) assert.ok((DASHBOARD_SECTIONS as readonly string[]).includes(s!), `${s} is served`);
});
