import type { VmDetailView, VmView } from '../../contract/vm-schemas.js';
import { actionCommands } from './vm-action-commands.js';
import { dash, fmtMiB, fmtTime, printFields, printTable, renderTable } from '../output.js';

export function printVms(vms: readonly VmView[]): void {
  printTable(
    ['ID', 'NAME', 'STATE', 'HOST', 'VCPUS', 'MEMORY', 'REASON'],
    vms.map((v) => [v.id, v.name, v.state, dash(v.host), v.vcpus, fmtMiB(v.memoryMiB), dash(v.stateReason)]),
  );
}

/** One VM's fields, then its state history (oldest first). */
export function printVmDetail(v: VmDetailView): void {
  printFields([
    ['id', v.id],
    ['name', v.name],
    ['owner', v.owner],
    // A clone's template is only its source's: what it was made from is that VM.
    v.cloneOf !== undefined ? ['clone of', `VM ${v.cloneOf.name} (${v.cloneOf.id})`] : ['template', dash(v.template)],
    ['state', v.state],
    ['reason', dash(v.stateReason)],
    ['host', dash(v.host)],
    ['cluster', dash(v.cluster ?? null)],
    ['vcpus', v.vcpus],
    ['memory', fmtMiB(v.memoryMiB)],
    ['datastore', v.datastore ?? '-'],
    // What the user types (`nubo vm <verb> [--hard]`), not the API's names (`poweroff-hard`).
    ['actions', actionCommands(v.allowedActions).join(', ') || '-'],
    ['created', fmtTime(v.createdAt)],
    ['updated', fmtTime(v.updatedAt)],
    ...v.nics.map((n): [string, string] => [`nic ${n.index}`, `${n.mac}${n.network !== null ? ` on ${n.network}` : ''}${n.address !== null ? ` ${n.address}` : ''}`]),
  ]);
  process.stdout.write('\nhistory:\n');
  if (v.history.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const rows = v.history.map((h) => [fmtTime(h.at), h.from ?? '-', h.to, h.action, dash(h.reason)]);
  process.stdout.write(renderTable(['AT', 'FROM', 'TO', 'ACTION', 'REASON'], rows));
}

/** A VM's NICs, by index. */
export function printVmNics(v: VmDetailView): void {
  printTable(['INDEX', 'NETWORK', 'ADDRESS', 'MAC'], v.nics.map((n) => [n.index, dash(n.network), dash(n.address), n.mac]));
}
