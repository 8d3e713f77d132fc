import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NativeApi } from '../ec2/native-api.js';
import { NuboError } from '../errors/nubo-error.js';
import type { VmDetailView, VmView } from '../contract/vm-schemas.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import type { NetworkView } from '../contract/network-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import { badRequest, OcciError } from './occi-error.js';
import type { AttributeValue, CategoryRef, CategorySet, EntityInstance, ResourceInstance, SentAction, SentEntity } from './occi-instance.js';
import { isLink } from './occi-instance.js';
import { ACTIONS, identifierOf, KINDS, STATIC_MIXINS, type Mixin } from './occi-model.js';
import { osTplMixin, RESOURCE_SIZES, resourceTplMixin } from './occi-templates.js';
import { compute, network, networkInterface, networkInterfaceId, parseNetworkInterfaceId, storage, storageLink } from './occi-entities.js';
import { COLLECTION_KINDS, planComputeAction, planComputeUpdate, planCreate, type Collection, type TemplateMixins } from './occi-requests.js';
import { entityMatches, filterCategories } from './occi-filter.js';
import { negotiate, requestRendering, type Rendering } from './occi-media.js';
import {
  actionOfLines, entityOfLines, linesOfBody, linesOfHeaders, linesToBody, linesToHeaders, parseAttributePair, parseCategory, renderCategorySet, renderLink, renderLocations, renderResource, type TextLine,
} from './occi-text.js';
import { parseActionJson, parseEntityJson, renderCategorySetJson, renderCollectionJson, renderLinkJson, renderResourceJson } from './occi-json.js';

export const OCCI_PREFIX = '/occi/1.2';

export interface OcciServerOptions {
  /** The native API as a user: every read and write goes through the native routes and their access rules. */
  readonly api: NativeApi;
  /** The calling user's id from the request's bearer token; throws (401) without a valid one. */
  readonly authenticate: (req: FastifyRequest) => Promise<string>;
}

/** Anything with a `status` the native API answered with (RemoteError) or ours. */
const statusOf = (err: unknown): number => {
  if (err instanceof OcciError) return err.status;
  if (err instanceof NuboError && typeof (err as { status?: unknown }).status === 'number') return (err as unknown as { status: number }).status;
  if (err instanceof NuboError && err.code === 'UNAUTHORIZED') return 401;
  return 500;
};

/**
 * The OCCI 1.2 interface under /occi/1.2 of the controller's own listener:
 * the same port, TLS and leader forwarding as the native API, and the same
 * bearer tokens. A thin layer: each request is parsed by the pure renderers
 * (occi-text.ts, occi-json.ts), checked against the model (occi-requests.ts),
 * and carried out through the native API as the caller — so access, quotas
 * and validation are the native API's own, in one place.
 */
export async function registerOcci(app: FastifyInstance, o: OcciServerOptions): Promise<void> {
  await app.register(async (occi) => {
    // Every body as text: the rendering is chosen by Content-Type here, not by Fastify.
    occi.removeAllContentTypeParsers();
    occi.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    // Hidden from the native API's OpenAPI document: OCCI describes itself at /-/.
    occi.all('/*', { schema: { hide: true } }, async (req, reply) => handle(o, req, reply));
    occi.all('/', { schema: { hide: true } }, async (req, reply) => handle(o, req, reply));
  }, { prefix: OCCI_PREFIX });
}

async function handle(o: OcciServerOptions, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let rendering: Rendering = 'text/plain';
  try {
    rendering = negotiate(req.headers.accept);
    const userId = await o.authenticate(req);
    const r = new OcciRequest(o.api, userId, req, reply, rendering);
    return await r.dispatch();
  } catch (err) {
    const status = statusOf(err);
    if (status === 500) req.log.error({ err }, 'occi request failed');
    const message = status === 500 ? 'internal error; see the controller log' : (err as Error).message;
    const code: string = err instanceof NuboError ? String((err as NuboError<string>).code) : 'INTERNAL';
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    void reply.header('server', 'nubo OCCI/1.2');
    if (rendering === 'application/occi+json') return reply.status(status).type('application/occi+json').send({ error: { status, code, message } });
    return reply.status(status).type('text/plain; charset=utf-8').send(`${message}\n`);
  }
}

class OcciRequest {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly base = OCCI_PREFIX;

  constructor(
    private readonly api: NativeApi, private readonly userId: string, private readonly req: FastifyRequest,
    private readonly reply: FastifyReply, private readonly rendering: Rendering,
  ) {
    const [path = '', query = ''] = req.url.split('?', 2) as [string, string?];
    this.path = path.slice(OCCI_PREFIX.length) || '/';
    this.query = new URLSearchParams(query);
    void reply.header('server', 'nubo OCCI/1.2');
  }

  call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.api.call<T>(this.userId, method, path, body);
  }

  async dispatch(): Promise<FastifyReply> {
    const p = this.path;
    const m = this.req.method;
    if (p === '/-/' || p === '/.well-known/org/ogf/occi/-/') {
      if (m === 'GET' || m === 'HEAD') return this.queryInterface();
      throw this.methodNotAllowed(['GET'], 'user-defined mixins are not supported');
    }
    const model = await this.model();
    const location = [...model.kinds, ...model.mixins].find((c) => this.base + c.location === this.base + p);
    if (location) {
      if (m === 'GET' || m === 'HEAD') return this.collection(identifierOf(location), model);
      const collection = (Object.keys(COLLECTION_KINDS) as Collection[]).find((c) => COLLECTION_KINDS[c].location === p);
      if (m === 'POST' && collection) {
        if (this.query.has('action')) throw badRequest('actions on a whole collection are not supported: POST the action to each entity');
        return this.create(collection, model);
      }
      throw this.methodNotAllowed(collection ? ['GET', 'POST'] : ['GET']);
    }
    const inst = /^\/(compute|storage|network)\/([^/]+)$/.exec(p) ?? /^\/link\/(storagelink|networkinterface)\/([^/]+)$/.exec(p);
    if (!inst) throw new OcciError(404, `no OCCI location ${p} (see ${this.base}/-/ for the kinds' and mixins' locations)`, { path: p });
    const collection = inst[1] as Collection;
    const id = decodeURIComponent(inst[2]!);
    if (m === 'GET' || m === 'HEAD') return this.renderEntity(await this.entity(collection, id, model), 200);
    if (m === 'DELETE') return this.delete(collection, id);
    if (m === 'POST' && collection === 'compute') return this.query.has('action') ? this.action(id) : this.update(id, model);
    throw this.methodNotAllowed(collection === 'compute' ? ['GET', 'POST', 'DELETE'] : ['GET', 'DELETE'], m === 'PUT' ? 'nubo chooses ids: create with POST to the kind\'s location' : undefined);
  }

  methodNotAllowed(allow: readonly string[], why?: string): OcciError {
    void this.reply.header('allow', allow.join(', '));
    return new OcciError(405, `${this.req.method} is not allowed on ${this.base}${this.path}${why ? `: ${why}` : ''} (allowed: ${allow.join(', ')})`, { allow });
  }

  // -------------------------------------------------------------------------
  // Reading

  async templateMixins(): Promise<TemplateMixins & { templates: readonly TemplateView[] }> {
    const templates = await this.call<TemplateView[]>('GET', '/api/v1/templates');
    return {
      templates,
      osTpls: new Map(templates.map((t) => [identifierOf(osTplMixin(t)), { mixin: osTplMixin(t), template: t.id }])),
      resourceTpls: new Map(RESOURCE_SIZES.map((s) => [identifierOf(resourceTplMixin(s)), { mixin: resourceTplMixin(s), size: s }])),
      others: new Map(STATIC_MIXINS.map((m) => [identifierOf(m), m])),
    };
  }

  async model(): Promise<CategorySet & { tpl: TemplateMixins & { templates: readonly TemplateView[] } }> {
    const tpl = await this.templateMixins();
    const mixins: Mixin[] = [...STATIC_MIXINS, ...[...tpl.osTpls.values()].map((x) => x.mixin), ...[...tpl.resourceTpls.values()].map((x) => x.mixin)];
    return { kinds: KINDS, mixins, actions: ACTIONS, tpl };
  }

  /** The filter of a GET: Category and X-OCCI-Attribute headers (text/occi) and `?category=` / `?attribute=name=value`. */
  filter(): { categories: CategoryRef[]; attributes: Record<string, AttributeValue> } {
    const fromHeaders = entityOfLines(linesOfHeaders(this.req.raw.rawHeaders).filter(([n]) => n === 'category' || n === 'x-occi-attribute'));
    const categories = [...fromHeaders.categories];
    for (const c of this.query.getAll('category')) {
      const hash = c.lastIndexOf('#');
      if (hash <= 0 || hash === c.length - 1) throw badRequest(`category=${c}: expected a category identifier (scheme#term, URL-encoded)`);
      categories.push(parseCategory(`${c.slice(hash + 1)}; scheme="${c.slice(0, hash + 1)}"`));
    }
    const attributes: Record<string, AttributeValue> = { ...fromHeaders.attributes };
    for (const a of this.query.getAll('attribute')) {
      const [n, v] = parseAttributePair(a);
      attributes[n] = v;
    }
    return { categories, attributes };
  }

  async queryInterface(): Promise<FastifyReply> {
    const model = await this.model();
    const set = filterCategories(model, this.filter().categories);
    if (this.rendering === 'application/occi+json') return this.reply.type('application/occi+json').send(renderCategorySetJson(set, this.base));
    return this.sendLines(renderCategorySet(set, this.base), 200);
  }

  async context(): Promise<{ vms: VmView[]; volumes: VolumeView[]; networks: NetworkView[] }> {
    const [vms, volumes, networks] = await Promise.all([
      this.call<VmView[]>('GET', '/api/v1/vms'), this.call<VolumeView[]>('GET', '/api/v1/volumes'), this.call<NetworkView[]>('GET', '/api/v1/networks'),
    ]);
    return { vms: vms.filter((v) => v.state !== 'terminated'), volumes, networks };
  }

  computeOf(v: VmView & { nics?: VmDetailView['nics'] }, volumes: readonly VolumeView[], networks: readonly NetworkView[], templates: readonly TemplateView[]): ResourceInstance {
    return compute(v, { base: this.base, templates: new Map(templates.map((t) => [t.name, t])), networks: new Map(networks.map((n) => [n.name, n])), volumes });
  }

  async collection(category: string, model: Awaited<ReturnType<OcciRequest['model']>>): Promise<FastifyReply> {
    const f = this.filter();
    const c = await this.context();
    // Each VM's NICs are in its detail only.
    const details = await Promise.all(c.vms.map((v) => this.call<VmDetailView>('GET', `/api/v1/vms/${v.id}`).catch(() => undefined)));
    const computes = details.filter((d): d is VmDetailView => d !== undefined && d.state !== 'terminated').map((d) => this.computeOf(d, c.volumes, c.networks, model.tpl.templates));
    const entities: EntityInstance[] = [
      ...computes, ...c.volumes.map((v) => storage(this.base, v)), ...c.networks.map((n) => network(this.base, n)), ...computes.flatMap((x) => x.links),
    ];
    const parents = new Map(model.mixins.map((m) => [identifierOf(m), m.depends]));
    const kept = entities.filter((e) => entityMatches(e, [category, ...f.categories.map(identifierOf)], f.attributes, parents));
    if (this.rendering === 'application/occi+json') {
      return this.reply.type('application/occi+json').send(renderCollectionJson(kept.filter((e): e is ResourceInstance => !isLink(e)), kept.filter(isLink)));
    }
    return this.sendLines(renderLocations(kept.map((e) => this.url(e.location))), 200);
  }

  async entity(collection: Collection, id: string, model: Awaited<ReturnType<OcciRequest['model']>>): Promise<EntityInstance> {
    const gone = (): OcciError => new OcciError(404, `no ${collection} ${id}`, { collection, id });
    const native = async <T>(path: string): Promise<T> => {
      try {
        return await this.call<T>('GET', path);
      } catch (err) {
        if (statusOf(err) === 404) throw gone();
        throw err;
      }
    };
    switch (collection) {
      case 'compute': {
        const vm = await native<VmDetailView>(`/api/v1/vms/${encodeURIComponent(id)}`);
        if (vm.state === 'terminated' || vm.id !== id) throw gone();
        const c = await this.context();
        return this.computeOf(vm, c.volumes, c.networks, model.tpl.templates);
      }
      case 'storage': {
        const v = await native<VolumeView>(`/api/v1/volumes/${encodeURIComponent(id)}`);
        if (v.id !== id) throw gone();
        return storage(this.base, v);
      }
      case 'network': {
        const n = await native<NetworkView>(`/api/v1/networks/${encodeURIComponent(id)}`);
        if (n.id !== id) throw gone();
        return network(this.base, n);
      }
      case 'storagelink': {
        const v = await native<VolumeView>(`/api/v1/volumes/${encodeURIComponent(id)}`);
        if (v.id !== id || v.vm === null) throw gone();
        return storageLink(this.base, { ...v, vm: v.vm });
      }
      case 'networkinterface': {
        const ref = parseNetworkInterfaceId(id);
        if (!ref) throw gone();
        const vm = await native<VmDetailView>(`/api/v1/vms/${encodeURIComponent(ref.vmId)}`);
        const nic = vm.nics.find((n) => n.index === ref.index);
        if (vm.id !== ref.vmId || vm.state === 'terminated' || !nic) throw gone();
        const networks = await this.call<NetworkView[]>('GET', '/api/v1/networks');
        return networkInterface(this.base, vm, nic, new Map(networks.map((n) => [n.name, n])));
      }
    }
  }

  // -------------------------------------------------------------------------
  // Writing

  /** The request's body in its rendering (text/occi: the headers). */
  sentLines(): { rendering: Rendering; lines: TextLine[] | undefined; body: string } {
    const body = typeof this.req.body === 'string' ? this.req.body : '';
    const rendering = requestRendering(this.req.headers['content-type'], body);
    if (rendering === 'application/occi+json') return { rendering, lines: undefined, body };
    return { rendering, lines: rendering === 'text/occi' ? linesOfHeaders(this.req.raw.rawHeaders) : linesOfBody(body), body };
  }

  sentEntity(): SentEntity {
    const s = this.sentLines();
    if (s.lines === undefined) return parseEntityJson(s.body);
    return entityOfLines(s.lines);
  }

  sentAction(): SentAction {
    const s = this.sentLines();
    if (s.lines === undefined) return s.body.trim() === '' ? { action: undefined, attributes: {} } : parseActionJson(s.body);
    return actionOfLines(s.lines);
  }

  async create(collection: Collection, model: Awaited<ReturnType<OcciRequest['model']>>): Promise<FastifyReply> {
    const plan = planCreate(this.sentEntity(), collection, this.base, model.tpl);
    let made: { collection: Collection; id: string };
    switch (plan.collection) {
      case 'compute':
        made = { collection, id: (await this.call<VmView>('POST', '/api/v1/vms', plan.body)).id };
        break;
      case 'storage':
        made = { collection, id: (await this.call<VolumeView>('POST', '/api/v1/volumes', plan.body)).id };
        break;
      case 'network':
        made = { collection, id: (await this.call<NetworkView>('POST', '/api/v1/networks', plan.body)).id };
        break;
      case 'storagelink':
        made = { collection, id: (await this.call<VolumeView>('POST', `/api/v1/vms/${encodeURIComponent(plan.vmId)}/volumes`, { volume: plan.volumeId })).id };
        break;
      case 'networkinterface': {
        const before = await this.call<VmDetailView>('GET', `/api/v1/vms/${encodeURIComponent(plan.vmId)}`);
        const after = await this.call<VmDetailView>('POST', `/api/v1/vms/${encodeURIComponent(plan.vmId)}/nics`, { network: plan.networkId });
        const added = after.nics.find((n) => !before.nics.some((b) => b.index === n.index)) ?? after.nics[after.nics.length - 1]!;
        made = { collection, id: networkInterfaceId(after.id, added.index) };
        break;
      }
    }
    const entity = await this.entity(made.collection, made.id, model);
    void this.reply.header('location', this.url(entity.location));
    if (this.rendering === 'application/occi+json') return this.renderEntity(entity, 201);
    return this.sendLines(renderLocations([this.url(entity.location)]), 201);
  }

  async update(id: string, model: Awaited<ReturnType<OcciRequest['model']>>): Promise<FastifyReply> {
    const sent = this.sentEntity();
    const vm = await this.entity('compute', id, model);
    const size = planComputeUpdate(sent, { vcpus: vm.attributes['occi.compute.cores'] as number, memoryMiB: Math.round((vm.attributes['occi.compute.memory'] as number) * 1024) });
    await this.call('POST', `/api/v1/vms/${encodeURIComponent(id)}/resize`, size);
    return this.renderEntity(await this.entity('compute', id, model), 200);
  }

  async action(id: string): Promise<FastifyReply> {
    const sent = this.sentAction();
    const vm = await this.call<VmView>('GET', `/api/v1/vms/${encodeURIComponent(id)}`).catch((err: unknown) => {
      throw statusOf(err) === 404 ? new OcciError(404, `no compute ${id}`, { collection: 'compute', id }) : err;
    });
    if (vm.state === 'terminated' || vm.id !== id) throw new OcciError(404, `no compute ${id}`, { collection: 'compute', id });
    const plan = planComputeAction(this.query.get('action') ?? '', sent, vm.state);
    if (plan.kind === 'vm-action') await this.call('POST', `/api/v1/vms/${encodeURIComponent(id)}/actions/${plan.action}`);
    else await this.call('POST', `/api/v1/vms/${encodeURIComponent(id)}/migrate`, plan.to !== undefined ? { to: plan.to } : {});
    return this.sendLines([], 200);
  }

  async delete(collection: Collection, id: string): Promise<FastifyReply> {
    const enc = encodeURIComponent(id);
    const notFound = (err: unknown): never => {
      throw statusOf(err) === 404 ? new OcciError(404, `no ${collection} ${id}`, { collection, id }) : err;
    };
    switch (collection) {
      case 'compute': {
        const vm = await this.call<VmView>('GET', `/api/v1/vms/${enc}`).catch(notFound);
        if (vm.state === 'terminated' || vm.id !== id) throw new OcciError(404, `no compute ${id}`, { collection, id });
        await this.call('POST', `/api/v1/vms/${enc}/actions/terminate`);
        break;
      }
      case 'storage':
      case 'network': {
        const one = await this.call<{ id: string }>('GET', `/api/v1/${collection === 'storage' ? 'volumes' : 'networks'}/${enc}`).catch(notFound);
        if (one.id !== id) throw new OcciError(404, `no ${collection} ${id}`, { collection, id });
        await this.call('DELETE', `/api/v1/${collection === 'storage' ? 'volumes' : 'networks'}/${enc}`);
        break;
      }
      case 'storagelink': {
        const v = await this.call<VolumeView>('GET', `/api/v1/volumes/${enc}`).catch(notFound);
        if (v.id !== id || v.vm === null) throw new OcciError(404, `no storagelink ${id}`, { collection, id });
        await this.call('DELETE', `/api/v1/vms/${encodeURIComponent(v.vm)}/volumes/${enc}`);
        break;
      }
      case 'networkinterface': {
        const ref = parseNetworkInterfaceId(id);
        if (!ref) throw new OcciError(404, `no networkinterface ${id}`, { collection, id });
        const vm = await this.call<VmDetailView>('GET', `/api/v1/vms/${encodeURIComponent(ref.vmId)}`).catch(notFound);
        if (vm.id !== ref.vmId || !vm.nics.some((n) => n.index === ref.index)) throw new OcciError(404, `no networkinterface ${id}`, { collection, id });
        await this.call('DELETE', `/api/v1/vms/${encodeURIComponent(ref.vmId)}/nics/${ref.index}`);
        break;
      }
    }
    return this.sendLines([], 200);
  }

  // -------------------------------------------------------------------------
  // Rendering

  url(location: string): string {
    return `${this.req.protocol}://${this.req.host}${location}`;
  }

  renderEntity(e: EntityInstance, status: number): FastifyReply {
    if (this.rendering === 'application/occi+json') return this.reply.status(status).type('application/occi+json').send(isLink(e) ? renderLinkJson(e) : renderResourceJson(e));
    return this.sendLines(isLink(e) ? renderLink(e) : renderResource(e), status);
  }

  /** text/plain: the lines as the body; text/occi: as headers, with "OK" as the body. */
  sendLines(lines: readonly TextLine[], status: number): FastifyReply {
    if (this.rendering === 'application/occi+json') return this.reply.status(status).type('application/occi+json').send({});
    if (this.rendering === 'text/occi') {
      for (const [name, values] of Object.entries(linesToHeaders(lines))) void this.reply.header(name, values);
      return this.reply.status(status).type('text/occi; charset=utf-8').send('OK\n');
    }
    return this.reply.status(status).type('text/plain; charset=utf-8').send(lines.length > 0 ? linesToBody(lines) : 'OK\n');
  }
}
