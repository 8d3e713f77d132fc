import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NativeApi } from '../ec2/native-api.js';
import type { VmDetailView, VmView } from '../contract/vm-schemas.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import type { NetworkView } from '../contract/network-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import { badRequest, OcciError } from './occi-error.js';
import type { AttributeValue, CategoryRef, CategorySet, EntityInstance, ResourceInstance, SentAction, SentEntity } from './occi-instance.js';
import { isLink } from './occi-instance.js';
import { ACTIONS, identifierOf, KINDS, STATIC_MIXINS, type Mixin } from './occi-model.js';
import { osTplMixin, RESOURCE_SIZES, resourceTplMixin } from './occi-templates.js';
import { zoneMixin } from './occi-zones.js';
import type { ZoneView } from '../contract/cluster-schemas.js';
import { compute, network, networkInterface, parseNetworkInterfaceId, storage, storageLink } from './occi-entities.js';
import { parseLocation, type Collection, type TemplateMixins } from './occi-requests.js';
import { entityMatches, filterCategories } from './occi-filter.js';
import { negotiate, requestRendering, type Rendering } from './occi-media.js';
import {
  actionOfLines, entityOfLines, linesOfBody, linesOfHeaders, linesToBody, linesToHeaders, parseAttributePair, parseCategory, renderCategorySet, renderLink, renderLocations, renderResource, renderUriList, type TextLine,
} from './occi-text.js';
import type { OcciMixinRecords, UserMixinRecord } from './occi-mixin-records.js';
import { userMixin } from './occi-user-mixins.js';
import { parseActionJson, parseEntityJson, renderCategorySetJson, renderCollectionJson, renderLinkJson, renderResourceJson } from './occi-json.js';
import { OCCI_PREFIX } from './occi-prefix.js';
import { statusOf } from './occi-status-of.js';

export type OcciModel = CategorySet & {
  tpl: TemplateMixins & { templates: readonly TemplateView[] };
  /** The caller's own mixins, and what each tags (`collection/id` → identifiers). */
  user: readonly UserMixinRecord[];
  tags: ReadonlyMap<string, readonly string[]>;
};

/**
 * One OCCI request's reading side: what the caller sent, what the caller may
 * see (through the native API, as the caller), and how the answer is
 * rendered. Kept apart from OcciRequest (occi-request.ts), which routes the
 * request and carries out the writes, so each file holds one concern.
 */
export abstract class OcciReader {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly base = OCCI_PREFIX;
  /** The answer's rendering, chosen before anything is done (a 406 writes nothing). */
  rendering: Rendering | undefined;

  constructor(
    protected readonly api: NativeApi, protected readonly userId: string, protected readonly req: FastifyRequest, protected readonly reply: FastifyReply,
    protected readonly records: OcciMixinRecords | undefined, protected readonly step: (name: string) => Promise<void>,
  ) {
    const [path = '', query = ''] = req.url.split('?', 2) as [string, string?];
    this.path = path.slice(OCCI_PREFIX.length) || '/';
    this.query = new URLSearchParams(query);
    void reply.header('server', 'nubo OCCI/1.2');
  }

  call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.api.call<T>(this.userId, method, path, body);
  }

  /** Chooses the answer's rendering from Accept (text/uri-list only for a collection's GET). */
  negotiate(uriList = false): void {
    this.rendering = negotiate(this.req.headers.accept, { uriList });
  }

  methodNotAllowed(allow: readonly string[], why?: string): OcciError {
    void this.reply.header('allow', allow.join(', '));
    return new OcciError(405, `${this.req.method} is not allowed on ${this.base}${this.path}${why ? `: ${why}` : ''} (allowed: ${allow.join(', ')})`, { allow });
  }

  // -------------------------------------------------------------------------
  // Reading

  async templateMixins(): Promise<TemplateMixins & { templates: readonly TemplateView[] }> {
    const [templates, zones] = await Promise.all([this.call<TemplateView[]>('GET', '/api/v1/templates'), this.call<ZoneView[]>('GET', '/api/v1/zones')]);
    return {
      templates,
      zones: new Map(zones.flatMap((z) => {
        const mixin = zoneMixin(z.name, z.hosts);
        return mixin === undefined ? [] : [[identifierOf(mixin), { mixin, cluster: z.name }] as const];
      })),
      osTpls: new Map(templates.map((t) => [identifierOf(osTplMixin(t)), { mixin: osTplMixin(t), template: t.id }])),
      resourceTpls: new Map(RESOURCE_SIZES.map((s) => [identifierOf(resourceTplMixin(s)), { mixin: resourceTplMixin(s), size: s }])),
      others: new Map(STATIC_MIXINS.map((m) => [identifierOf(m), m])),
    };
  }

  async model(): Promise<OcciModel> {
    const tpl = await this.templateMixins();
    const mixins: Mixin[] = [
      ...STATIC_MIXINS, ...[...tpl.osTpls.values()].map((x) => x.mixin), ...[...tpl.resourceTpls.values()].map((x) => x.mixin), ...[...(tpl.zones?.values() ?? [])].map((x) => x.mixin),
    ];
    const none: [UserMixinRecord[], Map<string, string[]>] = [[] as UserMixinRecord[], new Map<string, string[]>()];
    const [user, tags] = this.records ? await Promise.all([this.records.list(this.userId), this.records.tags(this.userId)]) : none;
    return { kinds: KINDS, mixins: [...mixins, ...user.map(userMixin)], actions: ACTIONS, tpl, user, tags };
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

  /** Every entity the caller may see that has `categories` (a kind or mixin, with its ancestors) and `attributes`. */
  async members(categories: readonly string[], attributes: Readonly<Record<string, AttributeValue>>, model: OcciModel): Promise<EntityInstance[]> {
    const c = await this.context();
    // Each VM's NICs are in its detail only.
    const details = await Promise.all(c.vms.map((v) => this.call<VmDetailView>('GET', `/api/v1/vms/${v.id}`).catch(() => undefined)));
    const computes = details.filter((d): d is VmDetailView => d !== undefined && d.state !== 'terminated').map((d) => this.computeOf(d, c.volumes, c.networks, model.tpl.templates));
    const entities: EntityInstance[] = [
      ...computes, ...c.volumes.map((v) => storage(this.base, v)), ...c.networks.map((n) => network(this.base, n)), ...computes.flatMap((x) => x.links),
    ];
    const parents = new Map(model.mixins.map((m) => [identifierOf(m), m.depends]));
    return entities.map((e) => this.tagged(e, model)).filter((e) => entityMatches(e, categories, attributes, parents));
  }

  async collection(category: string, model: OcciModel): Promise<FastifyReply> {
    const f = this.filter();
    const kept = await this.members([category, ...f.categories.map(identifierOf)], f.attributes, model);
    if (this.rendering === 'application/occi+json') {
      return this.reply.type('application/occi+json').send(renderCollectionJson(kept.filter((e): e is ResourceInstance => !isLink(e)), kept.filter(isLink)));
    }
    if (this.rendering === 'text/uri-list') return this.reply.type('text/uri-list').send(renderUriList(kept.map((e) => this.url(e.location))));
    return this.sendLines(renderLocations(kept.map((e) => this.url(e.location))), 200);
  }

  /** An entity with the caller's own mixins that tag it. */
  async entity(collection: Collection, id: string, model: OcciModel): Promise<EntityInstance> {
    return this.tagged(await this.untaggedEntity(collection, id, model), model);
  }

  tagged(e: EntityInstance, model: OcciModel): EntityInstance {
    if (isLink(e)) return e;
    const l = parseLocation(e.location, this.base);
    const t = l ? model.tags.get(`${l.collection}/${l.id}`) ?? [] : [];
    return t.length === 0 ? e : { ...e, mixins: [...e.mixins, ...t] };
  }

  async untaggedEntity(collection: Collection, id: string, model: OcciModel): Promise<EntityInstance> {
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
  // Parsing what was sent


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
