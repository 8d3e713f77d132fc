import type { FastifyReply } from 'fastify';
import { NuboError } from '../errors/nubo-error.js';
import type { VmDetailView, VmView } from '../contract/vm-schemas.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import type { NetworkView } from '../contract/network-schemas.js';
import { badRequest, OcciError } from './occi-error.js';
import type { ResourceInstance, SentEntity } from './occi-instance.js';
import { isLink } from './occi-instance.js';
import { COMPUTE, identifierOf, KINDS, STORAGELINK, type Kind, type Mixin } from './occi-model.js';
import { networkInterfaceId, parseNetworkInterfaceId } from './occi-entities.js';
import { checkAction, COLLECTION_KINDS, planComputeAction, planComputeReplace, planComputeUpdate, planCreate, type ActionPlan, type Collection } from './occi-requests.js';
import { definitionsOfLines, locationsOfLines, parseUriList, renderCategorySet, renderLocations } from './occi-text.js';
import type { UserMixinRecord } from './occi-mixin-records.js';
import { planMixinDefinition, planMixinRemoval, planTagging, TAGGABLE, userMixin } from './occi-user-mixins.js';
import { parseLocationsJson, parseMixinDefinitionsJson, renderCategorySetJson } from './occi-json.js';
import { OcciReader, type OcciModel } from './occi-reader.js';
import { statusOf } from './occi-status-of.js';

/**
 * One OCCI request: routes it by location and method, and carries out the
 * writes through the native API as the caller. The reading and rendering it
 * builds on are OcciReader's (occi-reader.ts).
 */
export class OcciRequest extends OcciReader {
  async dispatch(): Promise<FastifyReply> {
    const p = this.path;
    const m = this.req.method;
    if (p === '/-/' || p === '/.well-known/org/ogf/occi/-/') {
      this.negotiate();
      if (m === 'GET' || m === 'HEAD') return this.queryInterface();
      if (!this.records) throw this.methodNotAllowed(['GET'], 'user-defined mixins are not supported');
      if (m === 'POST') return this.defineMixin();
      if (m === 'DELETE') return this.removeMixin();
      throw this.methodNotAllowed(['GET', 'POST', 'DELETE']);
    }
    const model = await this.model();
    const location = [...model.kinds, ...model.mixins].find((c) => this.base + c.location === this.base + p);
    if (location) {
      this.negotiate(m === 'GET' || m === 'HEAD');
      if (m === 'GET' || m === 'HEAD') return this.collection(identifierOf(location), model);
      const collection = (Object.keys(COLLECTION_KINDS) as Collection[]).find((c) => COLLECTION_KINDS[c].location === p);
      if (m === 'POST' && this.query.has('action')) return this.collectionAction(location, model);
      if (m === 'POST' && collection) return this.create(collection, model);
      const own = model.user.find((u) => u.location === p);
      if (own && (m === 'POST' || m === 'PUT' || m === 'DELETE')) return this.tag(own, m);
      throw this.methodNotAllowed(own ? ['GET', 'POST', 'PUT', 'DELETE'] : ['GET', 'POST'], collection || own ? undefined : 'POST here triggers an action on the collection (?action=); only your own mixins\' collections are changed');
    }
    this.negotiate();
    const inst = /^\/(compute|storage|network)\/([^/]+)$/.exec(p) ?? /^\/link\/(storagelink|networkinterface)\/([^/]+)$/.exec(p);
    if (!inst) throw new OcciError(404, `no OCCI location ${p} (see ${this.base}/-/ for the kinds' and mixins' locations)`, { path: p });
    const collection = inst[1] as Collection;
    const id = decodeURIComponent(inst[2]!);
    if (m === 'GET' || m === 'HEAD') return this.renderEntity(await this.entity(collection, id, model), 200);
    if (m === 'DELETE') return this.delete(collection, id);
    if (m === 'POST' && collection === 'compute') return this.query.has('action') ? this.action(id) : this.update(id, model);
    if (m === 'POST' && (collection === 'storage' || collection === 'network') && this.query.has('action')) return this.resourceAction(collection, id, model);
    if (m === 'PUT' && collection === 'compute') return this.put(id, model);
    const acts = collection === 'storage' || collection === 'network';
    const allow = collection === 'compute' || acts ? ['GET', 'POST', 'DELETE'] : ['GET', 'DELETE'];
    const why = m === 'PUT' ? `only a compute is created or replaced at its location; POST a ${collection} to ${this.base}${COLLECTION_KINDS[collection].location}` : m === 'POST' && acts ? `a ${collection} is not updated; POST here triggers an action (?action=)` : undefined;
    throw this.methodNotAllowed(allow, why);
  }

  // -------------------------------------------------------------------------
  // Writing

  async create(collection: Collection, model: OcciModel): Promise<FastifyReply> {
    const sent = this.sentEntity();
    this.refuseUserMixins(sent, model);
    const plan = planCreate(sent, collection, this.base, model.tpl);
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

  /**
   * PUT at /compute/<id> (GFD.223): create the compute there when no compute
   * has that id (201; the id is the client's, a UUID), else replace it (200):
   * planComputeReplace says what may differ (its size, by a resize). A PUT
   * retried after a lost answer finds the compute the first one made and
   * changes nothing, so it is never made twice.
   */
  async put(id: string, model: OcciModel): Promise<FastifyReply> {
    const sent = this.sentEntity();
    const found = await this.call<VmDetailView>('GET', `/api/v1/vms/${encodeURIComponent(id)}`).catch((err: unknown) => {
      if (statusOf(err) === 404) return undefined;
      throw err;
    });
    // A VM found by its name is not the one at this location.
    if (found === undefined || found.id !== id.toLowerCase() || found.state === 'terminated') {
      this.refuseUserMixins(sent, model);
      const plan = planCreate(sent, 'compute', this.base, model.tpl, id);
      if (plan.collection !== 'compute') throw new OcciError(500, 'a compute planned as another kind');
      const made = await this.call<VmView>('POST', '/api/v1/vms', plan.body).catch((err: unknown) => {
        if (statusOf(err) === 409 && err instanceof NuboError && (err.details as { field?: unknown }).field === 'id') {
          throw new OcciError(409, `the id ${id} is taken by another compute (a deleted one keeps its id until purged): choose another`, { attribute: 'occi.core.id' });
        }
        throw err;
      });
      await this.step('occi.put.created');
      const entity = await this.entity('compute', made.id, model);
      void this.reply.header('location', this.url(entity.location));
      if (this.rendering === 'application/occi+json') return this.renderEntity(entity, 201);
      return this.sendLines(renderLocations([this.url(entity.location)]), 201);
    }
    const current = await this.entity('compute', found.id, model);
    if (isLink(current)) throw new OcciError(500, 'a compute rendered as a link');
    // The caller's own mixins that tag it may be sent back (a GET's rendering); tags change through the mixin's location.
    const mine = new Set(model.user.map(identifierOf));
    const untagged = sent.categories.find((c) => mine.has(identifierOf(c)) && !current.mixins.includes(identifierOf(c)));
    if (untagged) throw new OcciError(409, `mixin ${identifierOf(untagged)} does not tag compute ${current.id}: tag it through the mixin's location, not by a replace`, { category: identifierOf(untagged) });
    const size = planComputeReplace({ ...sent, categories: sent.categories.filter((c) => !mine.has(identifierOf(c))) }, {
      id: current.id, title: current.title ?? '', osTpl: current.mixins.find((x) => model.tpl.osTpls.has(x)),
      vcpus: found.vcpus, memoryMiB: found.memoryMiB, attributes: current.attributes,
      // A create's storagelinks count from the create on, also while its prolog has not attached them yet (a PUT retried then is the same request).
      links: [...current.links.map((l) => ({ kind: l.kind, target: l.target.location })), ...(found.volumesToAttach ?? []).map((v) => ({ kind: identifierOf(STORAGELINK), target: `${this.base}/storage/${v}` }))],
    }, this.base, model.tpl);
    if (size !== undefined) await this.call('POST', `/api/v1/vms/${encodeURIComponent(found.id)}/resize`, size);
    return this.renderEntity(await this.entity('compute', found.id, model), 200);
  }

  /** An entity is tagged with a user's mixin through the mixin's location, once it exists: a create that names one is refused (nothing made). */
  refuseUserMixins(sent: SentEntity, model: OcciModel): void {
    const mine = sent.categories.map(identifierOf).find((c) => model.user.some((u) => identifierOf(u) === c));
    const own = model.user.find((u) => identifierOf(u) === mine);
    if (own) throw badRequest(`mixin ${mine} is yours: tag the resource once it exists (POST its location to ${this.base}${own.location})`, { category: mine });
  }

  /** The query interface's POST: the caller defines a mixin of their own. */
  async defineMixin(): Promise<FastifyReply> {
    const model = await this.model();
    const s = this.sentLines();
    const defs = s.lines === undefined ? parseMixinDefinitionsJson(s.body) : definitionsOfLines(s.lines);
    const record = planMixinDefinition(defs, model, this.base);
    const outcome = await this.records!.define(this.userId, record);
    if (outcome !== 'defined') {
      throw new OcciError(409, outcome === 'identifier-taken' ? `category ${identifierOf(record)} is already defined` : `location ${record.location} is another of your mixins'`, { category: identifierOf(record) });
    }
    const defined = { kinds: [], mixins: [userMixin(record)], actions: [] };
    if (this.rendering === 'application/occi+json') return this.reply.type('application/occi+json').send(renderCategorySetJson(defined, this.base));
    return this.sendLines(renderCategorySet(defined, this.base), 200);
  }

  /** The query interface's DELETE: one of the caller's mixins goes, with every tag of it. */
  async removeMixin(): Promise<FastifyReply> {
    const model = await this.model();
    const s = this.sentLines();
    const defs = s.lines === undefined ? parseMixinDefinitionsJson(s.body) : definitionsOfLines(s.lines);
    const m = planMixinRemoval(defs, model.user, model);
    if (!(await this.records!.remove(this.userId, m.scheme, m.term))) throw new OcciError(404, `no mixin ${identifierOf(m)} of yours`, { category: identifierOf(m) });
    return this.sendLines([], 200);
  }

  /** The resources' locations a tagging request lists: X-OCCI-Location (text), a text/uri-list body, or JSON {"locations": [...]}. */
  sentLocations(): string[] {
    const type = (this.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const body = typeof this.req.body === 'string' ? this.req.body : '';
    if (type === 'text/uri-list') return parseUriList(body);
    const s = this.sentLines();
    return s.lines === undefined ? parseLocationsJson(s.body) : locationsOfLines(s.lines);
  }

  /**
   * A user mixin's collection changed (GFD.223): POST tags the resources
   * listed, PUT makes them exactly what it tags, DELETE untags them. Each
   * must be a resource the caller may see, of a kind the mixin applies to;
   * the change is one transaction, so a repeated request changes nothing more.
   */
  async tag(m: UserMixinRecord, method: 'POST' | 'PUT' | 'DELETE'): Promise<FastifyReply> {
    const model = await this.model();
    const entities = planTagging(this.sentLocations(), this.base);
    if (entities.length === 0 && method !== 'PUT') throw badRequest(`no resource given: list their locations (X-OCCI-Location, text/uri-list or {"locations": [...]})`);
    for (const e of entities) {
      const found = await this.untaggedEntity(e.collection as Collection, e.id, model);
      if (m.applies.length > 0 && !m.applies.includes(found.kind)) throw badRequest(`mixin ${identifierOf(m)} applies to ${m.applies.join(', ')}, not to ${found.kind} (${found.location})`, { location: found.location });
    }
    await this.records!.retag(this.userId, m.scheme, m.term, { add: method === 'DELETE' ? [] : entities, remove: method === 'DELETE' ? entities : [], replace: method === 'PUT' });
    await this.step('occi.mixin.tagged');
    return this.sendLines([], 200);
  }

  async update(id: string, model: OcciModel): Promise<FastifyReply> {
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
    await this.runComputeAction(id, planComputeAction(this.query.get('action') ?? '', sent, vm.state));
    return this.sendLines([], 200);
  }

  async runComputeAction(id: string, plan: ActionPlan): Promise<void> {
    if (plan.kind === 'vm-action') await this.call('POST', `/api/v1/vms/${encodeURIComponent(id)}/actions/${plan.action}`);
    else await this.call('POST', `/api/v1/vms/${encodeURIComponent(id)}/migrate`, plan.to !== undefined ? { to: plan.to } : {});
  }

  /** A storage's or network's action: `online` and `up` change nothing (nubo's are always so); the others are refused by checkAction (501). */
  async resourceAction(collection: 'storage' | 'network', id: string, model: OcciModel): Promise<FastifyReply> {
    const sent = this.sentAction();
    await this.entity(collection, id, model);
    checkAction(COLLECTION_KINDS[collection], this.query.get('action') ?? '', sent);
    return this.sendLines([], 200);
  }

  /**
   * An action on every member of a kind's or mixin's collection the caller may
   * see (GFD.223: POST to the collection with ?action=). The invocation is
   * checked once, before anything is done; it is then carried out on each
   * member it applies to now (those where it does not — a stop of a stopped
   * compute — are left alone, so a repeated request does not act twice). The
   * answer lists the members acted on; when some were refused, the error
   * names them and the ones done.
   */
  async collectionAction(category: Kind | Mixin, model: OcciModel): Promise<FastifyReply> {
    const sent = this.sentAction();
    const term = this.query.get('action') ?? '';
    // A mixin's members are of the kinds it applies to; a user's mixin that names none tags any resource: the action's kind decides.
    const kinds = category.class === 'kind' ? [category]
      : category.applies.length > 0 ? KINDS.filter((k) => category.applies.includes(identifierOf(k)))
      : TAGGABLE.filter((k) => k.actions.some((a) => a.endsWith(`#${term}`))).slice(0, 1);
    const kind = kinds.length === 1 ? kinds[0]! : undefined;
    if (!kind || kind.actions.length === 0) throw badRequest(`the ${category.term} collection has no actions${kind ? ` (a ${kind.term} has none)` : ''}`, { action: term });
    const action = checkAction(kind, term, sent);
    const members = (await this.members([identifierOf(category)], {}, model)).filter((e): e is ResourceInstance => !isLink(e) && e.kind === identifierOf(kind));
    const applies = members.filter((e) => e.actions.includes(identifierOf(action)));
    const done: string[] = [];
    const refused: string[] = [];
    let status = 0;
    if (kind === COMPUTE) {
      for (const e of applies) {
        try {
          await this.runComputeAction(e.id, planComputeAction(term, sent, String(e.attributes['occi.compute.state'])));
          done.push(e.location);
        } catch (err) {
          const st = statusOf(err);
          status ||= st;
          refused.push(`${e.location} (${st === 500 ? 'internal error; see the controller log' : (err as Error).message})`);
          if (st === 500) this.req.log.error({ err, vm: e.id }, 'occi collection action failed');
          continue;
        }
        await this.step('occi.collection-action.acted');
      }
    }
    // Storage online and network up change nothing: nothing to do for any member.
    if (refused.length > 0) {
      throw new OcciError(status, `action ${term} refused on ${refused.join(', ')}; done on ${done.length === 0 ? 'none' : done.join(', ')}`, { action: identifierOf(action), done, refused });
    }
    return this.sendLines(renderLocations(done.map((l) => this.url(l))), 200);
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
}
