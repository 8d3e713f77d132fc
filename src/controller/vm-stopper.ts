import type { Logger } from 'pino';
import type { ReceiveStatus } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { RemoteError, UnreachableError } from '../client/remote-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { deadline, sleep } from '../util/deadline.js';
import type { Failpoints } from '../util/failpoints.js';
import type { SystemStore } from './system-store.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { SystemStoreCopyError } from './system-store-copy-error.js';

export interface VmStopperOptions {
  readonly store: Store;
  readonly system: SystemStore;
  readonly agentFor: (host: Host) => AgentClient;
  /** The controller's URL as agents reach it (its transfer route serves the system store's files). */
  readonly controllerUrl: () => string;
  readonly logger: Logger;
  /** A copy either way must end within this (default 1 h). */
  readonly copyTimeoutMs?: number | undefined;
  /** Fault injection (tests): `stop.saved` fires once the system store holds the copy, before the host's goes. */
  readonly failpoints?: Failpoints | undefined;
}

const notFound = (err: unknown): boolean => err instanceof RemoteError && (err.code === 'VM_NOT_FOUND' || err.code === 'NOT_FOUND');

/**
 * The two halves of `stop` and `resume` of a stopped VM that move files
 * (the `epilog-stop` and `prolog-resume` phases; the plan in core/vm-actions
 * puts a save before the one and the scheduler and a restore around the
 * other). Both are safe to re-run after a controller restart: each step
 * looks at what the host and the system store hold before it acts, and the
 * copies on one side are deleted only once the other side holds a verified
 * copy.
 */
export class VmStopper {
  constructor(private readonly o: VmStopperOptions) {}

  /**
   * A suspended VM's files go from its host into the system store; then the
   * host's copy goes and its capacity is freed (the VM keeps its addresses).
   */
  async moveOff(vm: Vm, host: Host, signal: AbortSignal): Promise<void> {
    const agent = this.o.agentFor(host);
    const id = agentVmId(vm.id);
    const onHost = await agent.get(id, { signal, timeoutMs: 10_000 }).then(() => true, (err: unknown) => {
      if (notFound(err)) return false;
      throw err;
    });
    if (onHost) {
      // Always a fresh copy while the host holds the VM: a copy from before a failure may be older than the host's files.
      const offer = await agent.offerTransfer(id, { migrationId: `stop-${vm.id}`, ttlS: Math.ceil(this.#copyTimeoutMs() / 1000) + 60 }, { signal });
      const d = deadline(`stop of VM ${vm.id}: copy into the system store`, this.#copyTimeoutMs(), signal);
      try {
        const copy = await this.o.system.save(vm.id, { hostId: host.id, agentUrl: host.agentUrl, offer }, d.signal);
        this.o.logger.info({ vmId: vm.id, host: host.name, files: copy.files.map((f) => `${f.name}:${f.sizeBytes}`) }, 'stopped VM saved in the system store');
      } finally {
        d.dispose();
        await agent.revokeTransfer(id, { timeoutMs: 10_000 }).catch(() => {});
      }
      await this.o.failpoints?.hit('stop.saved');
      // `release`, not `delete`: a disk on the shared datastore is not the host's to delete.
      await agent.release(id, { signal, timeoutMs: 60_000 });
    } else if ((await this.o.system.copyOf(vm.id)) === undefined) {
      throw Object.assign(new Error(`neither host ${host.name} nor the system store holds VM ${vm.id}`), { fatal: true });
    }
    await this.o.store.vms.releaseFromHost(vm.id, { reason: 'stopped: its files are in the system store' });
  }

  /**
   * The scheduler bound the stopped VM to `host`: its agent pulls the files
   * from the system store and verifies them; the system store's copy goes
   * once the host committed its own. On failure the host's partial copy and
   * the reservation are let go (the VM goes back to `stopped` with its copy
   * intact), unless the controller is stopping: then the step re-runs later.
   */
  async bringBack(vm: Vm, host: Host, signal: AbortSignal): Promise<void> {
    const agent = this.o.agentFor(host);
    const id = agentVmId(vm.id);
    const operationId = `resume-${vm.id}`;
    try {
      const held = await agent.receiveStatus(id, { signal, timeoutMs: 10_000 }).catch((err: unknown) => {
        if (notFound(err)) return undefined;
        throw err;
      });
      if (held?.state !== 'done') {
        // A copy still running here was started by a controller before a restart, from an offer that died with it: start over.
        if (held?.state === 'copying' || held?.state === 'failed') await agent.release(id, { signal, timeoutMs: 60_000 });
        if (held?.state !== 'verified' || held.migrationId !== operationId) await this.#pull(vm, host, agent, operationId, signal);
        await agent.commitReceive(id, { signal, timeoutMs: 30_000 });
      }
      await this.o.system.remove(vm.id);
      this.o.logger.info({ vmId: vm.id, host: host.name }, 'stopped VM back on a host');
    } catch (err) {
      if (signal.aborted) throw err;
      this.o.logger.warn({ vmId: vm.id, host: host.name, err }, 'bringing a stopped VM back failed; its copy stays in the system store');
      this.o.system.offers.revoke(vm.id);
      await agent.release(id, { timeoutMs: 60_000 }).catch((e: unknown) => this.o.logger.warn({ vmId: vm.id, err: e }, 'the partial copy was not removed yet'));
      await this.o.store.vms.releaseFromHost(vm.id, { reason: `resume failed: ${errorMessage(err)}` });
      throw err;
    }
  }

  async #pull(vm: Vm, host: Host, agent: AgentClient, operationId: string, signal: AbortSignal): Promise<void> {
    const copy = await this.o.system.copyOf(vm.id);
    if (!copy) throw Object.assign(new Error(`the system store holds no copy of VM ${vm.id}`), { fatal: true });
    const offer = await this.o.system.offer(copy, operationId, this.#copyTimeoutMs() + 60_000);
    const spec = (vm.spec as unknown as ControllerVmSpec).agent;
    const id = agentVmId(vm.id);
    const d = deadline(`resume of VM ${vm.id}: copy onto ${host.name}`, this.#copyTimeoutMs(), signal);
    try {
      await agent.receive(id, {
        migrationId: operationId,
        spec,
        source: { url: this.o.controllerUrl(), transferId: offer.transferId, token: offer.token },
        files: copy.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })),
      }, { signal: d.signal });
      let lastAnswer = Date.now();
      for (;;) {
        let s: ReceiveStatus;
        const asked = Date.now();
        try {
          // A long poll: the host answers as soon as its copy ends.
          s = await agent.receiveStatus(id, { signal: d.signal, timeoutMs: 5_250, waitMs: 250 });
          lastAnswer = Date.now();
        } catch (err) {
          if (d.signal.aborted || !(err instanceof UnreachableError) || Date.now() - lastAnswer > 10_000) throw err;
          await sleep(250, d.signal);
          continue;
        }
        if (s.state === 'failed') throw new SystemStoreCopyError(vm.id, `host ${host.name} could not copy the VM's files: ${s.error ?? 'no reason given'}`);
        if (s.state === 'verified' || s.state === 'done') {
          const ours = new Map(copy.files.map((f) => [f.name, f.sha256]));
          const off = s.files.find((f) => f.sha256 !== undefined && ours.get(f.name) !== f.sha256);
          if (off) throw new SystemStoreCopyError(vm.id, `host ${host.name} received ${off.name} with sha256 ${off.sha256 ?? '?'}, the system store holds ${ours.get(off.name) ?? 'no such file'}`);
          return;
        }
        // An agent that answered at once (one from before the long poll) is asked again no sooner than before.
        const left = 250 - (Date.now() - asked);
        if (left > 0) await sleep(left, d.signal);
      }
    } finally {
      d.dispose();
      this.o.system.offers.revoke(vm.id);
    }
  }

  /** The VM is gone (terminate): so is its copy in the system store, if it was stopped. */
  async forget(vmId: string): Promise<void> {
    await this.o.system.remove(vmId);
  }

  #copyTimeoutMs(): number {
    return this.o.copyTimeoutMs ?? 3_600_000;
  }
}
