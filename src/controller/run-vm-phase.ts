import type { VmPhase } from '../core/vm-state.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { DelegatedVmPhase } from './vm-phase-table.js';
import { AgentReportError } from './agent-report-error.js';
import { InvariantError } from '../errors/invariant-error.js';
import type { VmOrchestratorOptions } from './vm-orchestrator-options.js';
import { bindCreateVolumes } from './vm-create-volumes.js';

export type PhaseOutcome = 'done' | 'advanced' | 'wait';

/** Why a controller composed without a phase's collaborator cannot run it. */
const MISSING_PHASE: Readonly<Record<DelegatedVmPhase, string>> = {
  'epilog-stop': 'this controller has no system store',
  'prolog-resume': 'this controller has no system store',
  migrate: 'this controller has no cold migrator',
  'migrate-live': 'this controller has no live migrator',
};

/** What a step found worth telling (a reboot that had to reset), by VM id: the orchestrator writes it with the step's result. */
export type StepNotes = Map<string, { readonly reason: string; readonly stateReason: string | null }>;

/**
 * Runs one step of a VM's plan other than `schedule` against its host's agent
 * (or its remote cloud). Kept apart from the orchestrator's drive loop: this is
 * what a step does, the loop decides when steps run, retry and fail.
 */
export async function runVmPhase(vm: Vm, phase: VmPhase, d: { readonly o: VmOrchestratorOptions; readonly signal: AbortSignal; readonly notes: StepNotes }): Promise<PhaseOutcome> {
  const spec = vm.spec as unknown as ControllerVmSpec;
  const id = agentVmId(vm.id);
  const host = vm.hostId === null ? undefined : await d.o.store.hosts.get(vm.hostId);
  // A VM on a remote cloud has no host: its steps are the cloud's (EC2 calls), the epilog's own clean-up follows as for any VM.
  const clouds = d.o.clouds;
  const onCloud = host === undefined && clouds !== undefined ? await clouds.binding(vm.id) : undefined;
  if (clouds !== undefined && onCloud !== undefined && phase !== 'epilog') {
    const r = await clouds.runPhase(vm, onCloud, phase, d.signal);
    if ('done' in r) return 'done';
    // The cloud refused the launch (its place is given back): the VM is placed again from pending.
    await d.o.store.vms.transition(vm.id, { from: [vm.state], to: 'pending', action: 'schedule', expectedVersion: vm.version, reason: r.requeue, patch: { stateReason: r.requeue } });
    return 'advanced';
  }
  if (phase === 'epilog') {
    if (clouds !== undefined && onCloud !== undefined) await clouds.runPhase(vm, onCloud, phase, d.signal);
    if (host) {
      await d.o.agentFor(host).delete(id, { signal: d.signal });
      await d.o.store.vms.releaseFromHost(vm.id);
    }
    // Its addresses go back to their networks only once no QEMU holds them (idempotent, like the reservation's release).
    await d.o.store.leases.release(vm.id);
    // Its volumes outlive it: detached, their files stay on their host.
    for (const v of await d.o.store.volumes.list({ vmId: vm.id })) await d.o.store.volumes.detach(v.id, vm.id);
    await d.o.phases?.forget?.(vm.id);
    return 'done';
  }
  if (!host) throw new InvariantError(`VM ${vm.id} has no host for ${phase}`, { vmId: vm.id, phase });
  const agent = d.o.agentFor(host);
  const o = { signal: d.signal };
  switch (phase) {
    case 'prolog': {
      await d.o.failpoints?.hit('vm.prolog');
      // The volumes of its create: bound in the store and listed in its spec first, their files made after the prepare.
      const vols = await bindCreateVolumes(d.o.store, vm, host);
      await d.o.failpoints?.hit('vm.prolog.volumes-bound');
      await agent.prepare(id, vols.agent, o);
      for (const a of vols.attach) await agent.attachVolume(id, a, o);
      await d.o.failpoints?.hit('vm.prolog.done');
      return 'done';
    }
    case 'boot':
    case 'restore': {
      // When the agent was asked (debug): a resume's fixed cost is timed step by step (bench/suspend.ts).
      d.o.logger.debug({ vmId: vm.id, phase }, 'vm step sent to the agent');
      await d.o.failpoints?.hit(`vm.${phase}`);
      // A boot hands over the size the store has: a VM resized while powered off boots with its new size.
      const r = await agent.start(id, o, phase === 'boot' ? { size: { vcpus: spec.agent.vcpus, memoryMiB: spec.agent.memoryMiB } } : undefined);
      await d.o.failpoints?.hit(`vm.${phase}.done`);
      if (r.state !== 'running') throw new AgentReportError('running', r.state, `the agent reports ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
      return 'done';
    }
    case 'shutdown':
    case 'shutdown-hard': {
      const r = await agent.powerOff(id, phase === 'shutdown-hard', o);
      if (r.state !== 'poweroff') throw new AgentReportError('poweroff', r.state, `the guest did not power off (agent reports ${r.state})`);
      return 'done';
    }
    case 'reboot':
    case 'reboot-hard': {
      const r = await agent.reboot(id, { hard: phase === 'reboot-hard', graceS: d.o.rebootGraceS ?? 60 }, o);
      if (r.state !== 'running') throw new AgentReportError('running', r.state, `the agent reports ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
      // A reset loses what the guest had not written out: the user must be able to see that it happened, and why.
      d.notes.set(vm.id, r.clean
        ? { reason: 'the guest shut down by itself (ACPI) and booted again', stateReason: null }
        : { reason: `reset instead of a clean reboot: ${r.resetReason ?? 'no reason given'}`, stateReason: `rebooted by a reset: ${r.resetReason ?? 'no reason given'}` });
      if (!r.clean) d.o.logger.warn({ vmId: vm.id, reason: r.resetReason }, 'vm reset instead of a clean reboot');
      return 'done';
    }
    case 'save': {
      const r = await agent.suspend(id, o);
      if (r.state !== 'suspended') throw new AgentReportError('suspended', r.state, `the agent reports ${r.state}`);
      return 'done';
    }
    case 'epilog-stop':
    case 'prolog-resume':
    case 'migrate':
    case 'migrate-live': {
      const run = d.o.phases?.[phase];
      if (!run) throw new UnsupportedError(phase, MISSING_PHASE[phase]);
      await run(vm, host, d.signal);
      return 'done';
    }
    default:
      throw new UnsupportedError(phase, 'not implemented by this controller yet');
  }
}
