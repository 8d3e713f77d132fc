import { UnreachableError } from '../client/remote-error.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import type { JsonObject } from '../store/store-context.js';
import { StaleStateError } from '../store/store-errors.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { SchedulingHosts } from './scheduling-hosts.js';
import { vmDemand } from './schedule-vm.js';
import type { VmOrchestratorOptions } from './vm-orchestrator-options.js';

/** How many hosts one create may give up on before it keeps retrying the last one, as any other step does. */
export const MAX_PLACEMENTS_AGAIN = 3;

/**
 * A create's prolog whose call to its host's agent failed before anything
 * was sent — the connection was never made (refused, or not made in time) —
 * is placed again on another host, instead of retrying that host until it
 * is declared lost (minutes): no copy of the VM can be there, so nothing is
 * left behind or made twice. One store transaction moves it back to
 * `pending`, gives its reservation back and adds the host to the ones its
 * create avoids (`spec.avoidHosts`, with the reason in its history and
 * event); the drive then places it as any pending VM. A controller that
 * dies before that write re-runs the prolog on the same host (refused
 * again: placed again then); after it, places the pending VM.
 *
 * Not for an ambiguous failure (a reset, a time-out after the request went
 * out: the agent may have made the VM, so that host is retried, its calls
 * idempotent) — nor for a host an earlier call of the same drive may have
 * reached (`mayHaveReached`); a copy prepared there by a call a controller
 * crash hid is released by the host monitor once the host reports it
 * (leftover-releaser.ts) —, an admin's chosen host, a create that brings volumes (their
 * files are on that host) or one that already gave up on
 * MAX_PLACEMENTS_AGAIN hosts.
 *
 * Answers true when the drive should read the VM again (placed again, or
 * moved on meanwhile), false when the step's failure takes its usual course.
 */
export async function placeAgain(vm: Vm, err: unknown, d: { readonly o: VmOrchestratorOptions; readonly hosts: SchedulingHosts; readonly mayHaveReached?: ReadonlySet<string> | undefined }): Promise<boolean> {
  if (!(err instanceof UnreachableError) || !err.notSent) return false;
  if (vm.state !== 'prolog' || vm.hostId === null) return false;
  // An earlier call of this prolog may have reached the host (reset after sending): the VM may be there, so it stays.
  if (d.mayHaveReached?.has(vm.hostId) === true) return false;
  if (vm.operation?.action !== 'create' || vm.operation.from !== 'pending') return false;
  const spec = vm.spec as unknown as ControllerVmSpec;
  if (spec.deploy !== undefined || (spec.volumesAtCreate ?? []).length > 0) return false;
  const avoided = spec.avoidHosts ?? [];
  if (avoided.length >= MAX_PLACEMENTS_AGAIN) return false;
  const hostId = vm.hostId;
  // Placed here although avoided: no other host had room (schedule-vm.ts), so this one is retried as any step is.
  if (avoided.includes(hostId)) return false;
  // Only when another host can take it now (the scheduler's copy, nothing woken): with none — a one-host site whose
  // agent is restarting — the VM stays in its prolog and the step retries this host until its agent answers.
  if ((await d.hosts.current()).index.place(vmDemand(vm, [hostId])).hostId === undefined) return false;
  const name = (await findOrUndefined(d.o.store.hosts.get(hostId)))?.name ?? hostId;
  await d.o.failpoints?.hit('vm.prolog.place-again');
  const reason = `placed again: host ${name} could not be reached and never received the request (${err.message}); not chosen again for this VM`;
  try {
    await d.o.store.vms.placeAgain(vm.id, {
      expectedVersion: vm.version,
      spec: { ...spec, avoidHosts: [...avoided, hostId] } as unknown as JsonObject,
      reason: reason.slice(0, 1024),
    });
  } catch (e) {
    // Moved on meanwhile (host lost, terminated, its spec revised): the drive reads it again and decides anew.
    if (e instanceof StaleStateError) return true;
    throw e;
  }
  // The scheduler's copy of the host gets its room back before the next placement reads it.
  await d.hosts.refreshHost(hostId);
  d.o.logger.warn({ vmId: vm.id, host: name, err: err.message, placements: avoided.length + 1 }, 'agent never reached: the VM is placed again on another host');
  await d.o.failpoints?.hit('vm.prolog.placed-again');
  return true;
}
