import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams, templateBody, templateView } from './api-schemas.js';
import { userOf, type ApiContext } from './api-context.js';

export function registerTemplateRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['templates'];
  // Templates are a shared catalog: everyone may instantiate any template.
  r.get('/api/v1/templates', { schema: { tags, response: { 200: z.array(templateView) } } }, async () =>
    Promise.all((await ctx.store.templates.list()).map((t) => ctx.catalog.templateView(t))),
  );
  r.get('/api/v1/templates/:id', { schema: { tags, params: idParams, response: { 200: templateView } } }, async (req) =>
    ctx.catalog.templateView(await ctx.catalog.findTemplate(req.params.id, userOf(req))),
  );
  r.post('/api/v1/templates', { schema: { tags, body: templateBody, response: { 201: templateView } } }, async (req, reply) => {
    const t = await ctx.catalog.createTemplate(req.body, userOf(req));
    return reply.status(201).send(await ctx.catalog.templateView(t));
  });
}
