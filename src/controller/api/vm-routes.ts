import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { createdVmView, createVmBody, listVmsQuery, purgeVmsBody, purgeVmsView, vmActionParams, vmDetailView, vmView } from '../../contract/vm-schemas.js';
import { accessOf, findVisibleVm, userOf, type ApiContext } from './api-context.js';
import { agentVmId } from '../agent-vm-id.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import { recordNewVm } from '../record-new-vm.js';
import { findHost } from './host-routes.js';
import { spliceToWebSocket } from '../../http/console-splice.js';
import { InvalidStateError } from '../../core/invalid-state-error.js';
import { ValidationError } from '../../errors/validation-error.js';
import { ConflictError, NotFoundError } from '../../store/store-errors.js';
import type { AdmittedVm } from '../catalog.js';
import { deployHostRefusal } from '../deploy-host.js';
import { ForbiddenError } from './forbidden-error.js';
import { checkCreateVolumes, type CreateVolumes } from '../vm-create-volumes.js';
import { VmVolumes } from '../vm-volumes.js';

export function registerVmRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['vms'];
  const findVm = (req: FastifyRequest, ref: string): Promise<Vm> => findVisibleVm(ctx, req, ref);

  r.get('/api/v1/vms', { schema: { tags, querystring: listVmsQuery, response: { 200: z.array(vmView) } } }, async (req) => {
    const hostId = req.query.host === undefined ? undefined : (await findHost(ctx.store, req.query.host)).id;
    const vms = await accessOf(ctx, req).filter('read', 'vm', await ctx.store.vms.list({ ...(req.query.state ? { state: req.query.state } : {}), ...(hostId ? { hostId } : {}) }));
    return ctx.views.vms(vms);
  });
  r.get('/api/v1/vms/:id', { schema: { tags, params: idParams, response: { 200: vmDetailView } } }, async (req) => ctx.views.vmDetail(await findVm(req, req.params.id)));

  r.post('/api/v1/vms', {
    schema: {
      tags, body: createVmBody, response: { 201: createdVmView },
      summary: 'Create a VM from a template; the scheduler places it (pending → prolog → boot → running)',
      description:
        'Overrides of the template: `vcpus`, `memoryMiB`, `datastore`, `userData`, `requirements` (a placement requirements expression, ' +
        'which holds for the VM\'s whole life: placement and every migration without `force` honour it), `nics`, `ha`. ' +
        '`host` (admins only; a user gets 403 FORBIDDEN naming it): deploy on that host (name or id) instead of the one the ranking would choose — once, like OpenNebula\'s `onevm deploy`, ' +
        'not a lasting requirement (a later placement or migration may move the VM elsewhere). The host must pass every placement filter now ' +
        '(enabled, not in maintenance, on standby or degraded, the CPU model, networks, datastore, free room and the VM\'s requirements): else 409 CONFLICT, field `host`, saying which; ' +
        'an unknown host is 400 naming `host`. `id`: the VM\'s id chosen by the client (a UUID; 409 CONFLICT, field `id`, when any VM, a terminated one too, has it), ' +
        'so that a create retried after a lost answer finds the first one instead of making a second. ' +
        '`volumes`: volumes (ids or names; yours, detached) attached in the VM\'s first prolog, before it first boots, at slots 0, 1, … in the order given — ' +
        'a controller restart in between resumes the attach, so the VM never runs without them. A volume whose file exists pins the VM to its host (which must take it now: ' +
        'else 409 CONFLICT naming the volume), a volume in a cluster to that cluster. An unknown volume is 400 naming `volumes[i]`; one attached, promised to another VM being created, ' +
        'another user\'s, or volumes of different hosts or clusters are 409 CONFLICT naming the volume. Nothing is written when refused. ' +
        'The answer (201) is the VM with its `nics` as admitted — each one\'s network, leased address and MAC —, as `GET /vms/{id}` shows them.',
    },
  }, async (req, reply) => {
    const u = userOf(req);
    if (req.body.host !== undefined && u.role !== 'admin') throw new ForbiddenError('choosing the host of a VM (field `host`)');
    const vols = req.body.volumes === undefined ? undefined : await checkCreateVolumes(ctx.store, new VmVolumes({ store: ctx.store, agentFor: ctx.agentFor, logger: ctx.logger, busy: () => false }), accessOf(ctx, req), req.body.volumes);
    if (vols?.cluster !== undefined && req.body.cluster !== undefined && req.body.cluster !== vols.cluster) {
      throw new ConflictError('volume', 'name', req.body.volumes!.join(', '), `is in cluster ${vols.cluster}, and the VM is asked to be in cluster ${req.body.cluster}`);
    }
    // The volumes' cluster becomes the VM's: only its hosts can attach them.
    let admitted = await ctx.catalog.admitVm(vols?.cluster !== undefined ? { ...req.body, cluster: vols.cluster } : req.body, u);
    if (req.body.host !== undefined) admitted = await deployOn(ctx, req.body.host, admitted);
    if (vols !== undefined) admitted = await withCreateVolumes(ctx, vols, req.body.host, admitted);
    const vm = await recordNewVm(ctx, admitted, u, req.body.id);
    if (req.body.ha === true) await ctx.store.ha.setVmHa(vm.id, true);
    return reply.status(201).send(await ctx.views.createdVm(vm));
  });

  r.post('/api/v1/vms/purge', {
    schema: {
      tags, body: purgeVmsBody, response: { 200: purgeVmsView },
      summary: 'Delete the records of terminated VMs (yours; an admin\'s: everyone\'s)',
      description:
        'Deletes terminated VMs last changed at least `olderThanS` seconds ago, with their state history and migration records. ' +
        'The event log keeps their state changes (and a `vm.purged` event each), so usage computed from it is unchanged. VMs in any other state are never touched.',
    },
  }, async (req) => {
    const u = userOf(req);
    const before = new Date(Date.now() - (req.body.olderThanS ?? 0) * 1000).toISOString();
    const owners = new Map((await ctx.store.users.list()).map((x) => [x.id, x.name]));
    const purged = await ctx.store.vms.purgeTerminated({ before, ...(u.role === 'admin' ? {} : { ownerId: u.id }) });
    return { purged: purged.map((v) => ({ id: v.id, name: v.name, owner: owners.get(v.ownerId) ?? v.ownerId, terminatedAt: v.updatedAt })) };
  });

  r.post('/api/v1/vms/:id/actions/:action', {
    schema: {
      tags, params: vmActionParams, response: { 200: vmView },
      summary: 'Start a life-cycle action; the VM is in the action\'s first transitional state when this answers',
      description:
        '`poweroff` (ACPI; `-hard` kills QEMU) and `start`; `reboot` asks the guest (ACPI) to shut down and boots it again in the same QEMU — ' +
        'the VM stays in `boot` until then; a guest that does not shut down within the controller\'s grace (60 s) is reset instead, which the VM\'s `stateReason` and history say (`reboot-hard`: reset at once); `suspend` saves memory to a file on the host, `resume` restores it; ' +
        '`stop` suspends a running VM (or takes a suspended one) and moves its files off the host into the controller\'s system store, freeing the host — ' +
        '`resume` of a stopped VM places it again through the scheduler (possibly on another host) and restores it there; `terminate` (`-hard`) deletes its disks. ' +
        '`recover` starts a `failed` VM again: one that failed before its disks were complete (schedule, prolog) is placed or has its disks built again, ' +
        'any other is booted from the disks its host still holds (never rebuilt from the image: they hold the guest\'s data); with nothing to start from ' +
        '(its disk gone, or it failed while terminate deleted it) it is 409 RECOVER_REFUSED saying so, and only terminate(-hard) is left. ' +
        '409 INVALID_STATE names the states the action is allowed from; `stop` of a VM on the shared datastore is 409 CONFLICT (field `datastore`), of a VM with volumes attached 409 CONFLICT (field `volumes`, naming them). ' +
        'An admin may `terminate-hard` a `migrating` VM once its live migration is stuck past its own timeout (409 CONFLICT, field `state`, says why not).',
    },
  }, async (req) => {
    const vm = await findVm(req, req.params.id);
    return ctx.views.vm(await ctx.orchestrator.act(vm.id, req.params.action, { admin: userOf(req).role === 'admin' }));
  });

  r.get('/api/v1/vms/:id/console', {
    schema: {
      tags, params: idParams,
      summary: 'The tail of the VM\'s serial console log (text)',
      description: 'The last 64 KiB of the VM\'s console log as plain text. One log for the VM\'s whole life: every boot, ' +
        'resume, restart of its agent and live or cold migration appends to what came before (a migration carries the ' +
        'source\'s log, best effort). Bounded: a start keeps the host\'s last 1 MiB of it, a migration carries at most the source\'s last 1 MiB. ' +
        'Empty for a VM on no host; removed when the VM is terminated.',
    },
  }, async (req, reply) => {
    const vm = await findVm(req, req.params.id);
    if (vm.hostId === null) return reply.type('text/plain; charset=utf-8').send('');
    const host = await ctx.store.hosts.get(vm.hostId);
    return reply.type('text/plain; charset=utf-8').send(await ctx.agentFor(host).consoleLog(agentVmId(vm.id)));
  });

  // Who may attach is decided before the upgrade, so a refusal is a plain HTTP error (404 for a VM the caller may not see).
  const attachTo = new WeakMap<FastifyRequest, { url: string; token: string }>();
  // `wsHandler` with a plain handler rather than `websocket: true`, which would hide the route from the OpenAPI document.
  r.route({
    method: 'GET',
    url: '/api/v1/vms/:id/console/attach',
    schema: {
      tags, params: idParams,
      summary: 'Attach to the VM\'s serial console (WebSocket)',
      description:
        'Upgrade to a WebSocket (`Authorization: Bearer …` on the upgrade request, or — from a browser, which cannot set that header — the subprotocols `nubo.console, bearer.<token>`): binary messages are keystrokes to the guest\'s serial port, ' +
        'messages back are its output, live. Owner or admin only (others get 404, as for the VM itself); 409 INVALID_STATE when the VM is on no host; ' +
        'a request without the upgrade gets 426. One client at a time: QEMU serves the console to one connection, a second waits until the first leaves.',
    },
    preValidation: async (req) => {
      const vm = await findVm(req, req.params.id);
      if (vm.hostId === null) throw new InvalidStateError('console', vm.state, ['running'], 'attach to the console of');
      const host = await ctx.store.hosts.get(vm.hostId);
      const agent = ctx.agentFor(host);
      attachTo.set(req, { url: `${agent.baseUrl.replace(/^http/, 'ws')}/agent/v1/vms/${agentVmId(vm.id)}/console/attach`, token: agent.token });
    },
    handler: async (_req, reply) => reply.status(426).header('upgrade', 'websocket').send({ error: { code: 'UPGRADE_REQUIRED', message: 'the console is a WebSocket: send the upgrade request', details: {} } }),
    wsHandler: (socket, req) => {
      const to = attachTo.get(req);
      if (to === undefined) return socket.close(1011, 'no console target');
      spliceToWebSocket(socket, to.url, to.token);
    },
  });
}

/** An admin's chosen host for a new VM: checked against every placement filter now, kept in the spec for the first placement only. */
/** The create's volumes go into the VM's spec; a volume's file pins the first placement to its host, which must take the VM now (409 naming the volume). */
async function withCreateVolumes(ctx: ApiContext, vols: CreateVolumes, hostRef: string | undefined, admitted: AdmittedVm): Promise<AdmittedVm> {
  let deploy: string | undefined;
  if (vols.hostId !== undefined) {
    const host = await ctx.store.hosts.get(vols.hostId);
    const names = (await Promise.all(vols.ids.map((id) => ctx.store.volumes.get(id)))).filter((v) => v.hostId === host.id).map((v) => v.name).join(', ');
    if (hostRef !== undefined) {
      const chosen = await findHost(ctx.store, hostRef);
      if (chosen.id !== host.id) throw new ConflictError('volume', 'name', names, `lives on host ${host.name}, not on the host chosen for the VM (${chosen.name})`);
    }
    const refusal = deployHostRefusal(host, admitted.demand, ctx.placementPolicy);
    if (refusal !== undefined) throw new ConflictError('volume', 'name', names, `lives on host ${host.name}, which cannot take the VM now: ${refusal}`);
    deploy = host.id;
  }
  return { ...admitted, spec: (leases) => ({ ...admitted.spec(leases), ...(deploy !== undefined ? { deploy: { hostId: deploy } } : {}), volumesAtCreate: [...vols.ids] }) };
}

async function deployOn(ctx: ApiContext, ref: string, admitted: AdmittedVm): Promise<AdmittedVm> {
  const host = await findHost(ctx.store, ref).catch((err: unknown) => {
    if (err instanceof NotFoundError) throw new ValidationError('request', [{ field: 'host', message: `no host ${ref}` }]);
    throw err;
  });
  const refusal = deployHostRefusal(host, admitted.demand, ctx.placementPolicy);
  if (refusal !== undefined) throw new ConflictError('vm', 'host', host.name, `cannot be deployed there: ${refusal}`);
  return { ...admitted, spec: (leases) => ({ ...admitted.spec(leases), deploy: { hostId: host.id } }) };
}
