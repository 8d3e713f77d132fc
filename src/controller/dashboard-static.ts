import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** Where `npm run build` puts the dashboard (vite build of web/): dist/web beside dist/src. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * The dashboard's own addresses (web/src/routes.ts names the same): each is
 * answered with index.html so that a reload or a shared link of a deep page
 * works. Listed rather than a catch-all so that a wrong /api/ path or
 * /metrics keeps its 404 (or 405) in the API's error shape.
 */
export const DASHBOARD_SECTIONS = ['sign-in', 'overview', 'vms', 'hosts', 'images', 'networks', 'volumes', 'migrations', 'leases'] as const;

/**
 * Serves the built single-page app: the hashed assets as files, index.html for
 * `/` and every section. Without a build (tsc alone) nothing is served and the
 * API works as before.
 */
export async function registerDashboard(app: FastifyInstance, dir: string = DEFAULT_DASHBOARD_DIR): Promise<boolean> {
  if (!existsSync(`${dir}/index.html`)) return false;
  // wildcard false: one route per file found at start, so the API's unknown paths still fall to its 404.
  await app.register(fastifyStatic, {
    root: dir, wildcard: false, index: false, serve: true,
    // Vite names the assets after their content hash: a new build has new names, so they never go stale.
    maxAge: '365d', immutable: true,
    // The page itself only through the routes below, never cached.
    allowedPath: (path) => path !== '/index.html',
  });
  const page = async (_req: unknown, reply: FastifyReply): Promise<FastifyReply> => {
    // The page names the hashed assets of this build: never cached, so an upgrade is seen at the next load.
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', { cacheControl: false });
  };
  app.get('/', { schema: { hide: true } }, page);
  for (const s of DASHBOARD_SECTIONS) {
    app.get(`/${s}`, { schema: { hide: true } }, page);
    app.get(`/${s}/*`, { schema: { hide: true } }, page);
  }
  return true;
}
