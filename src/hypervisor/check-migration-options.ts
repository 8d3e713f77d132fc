import type { IncomingOptions, MigrationTuning, MirrorOptions, OutgoingOptions } from './live-migration.js';
import type { VmSpec } from './vm-spec.js';
import { ValidationError, type FieldIssue } from '../errors/validation-error.js';
import { parseIpv4 } from '../network/ipv4.js';

// The live-migration inputs every driver is handed, checked before anything is started: each issue names its field.

function isPort(p: number | undefined): boolean {
  return p === undefined || (Number.isInteger(p) && p >= 1 && p <= 65535);
}

export function checkIncomingOptions(spec: VmSpec, opts: IncomingOptions): void {
  const issues: FieldIssue[] = [];
  if (parseIpv4(opts.listenHost) === undefined) issues.push({ field: 'listenHost', message: 'must be an IPv4 address' });
  if (!isPort(opts.port)) issues.push({ field: 'port', message: 'must be a TCP port (1-65535)' });
  if (!isPort(opts.nbdPort)) issues.push({ field: 'nbdPort', message: 'must be a TCP port (1-65535)' });
  for (const id of opts.nbdDisks ?? []) {
    const disk = spec.disks.find((d) => d.id === id);
    if (!disk) issues.push({ field: 'nbdDisks', message: `the spec has no disk ${id}` });
    else if (disk.readOnly) issues.push({ field: 'nbdDisks', message: `disk ${id} is read-only; only writable disks are copied` });
  }
  if (opts.autostart === true && (opts.nbdDisks ?? []).length > 0) {
    // The source completes its disk mirrors only after the memory: a guest started at completion would run on disks missing its last writes.
    issues.push({ field: 'autostart', message: 'a destination whose disks are mirrored to it must wait for the mirrors to complete; resume on completion needs shared storage' });
  }
  if (opts.autostart === true && opts.postcopy === true) {
    issues.push({ field: 'autostart', message: 'not with post-copy: the switch to post-copy, not the completion, hands the guest over' });
  }
  if (issues.length > 0) throw new ValidationError('incoming migration options', issues);
}

export function checkMirrorOptions(spec: VmSpec, opts: MirrorOptions): void {
  const issues: FieldIssue[] = [];
  if (parseIpv4(opts.nbd.host) === undefined) issues.push({ field: 'nbd.host', message: 'must be an IPv4 address' });
  if (!isPort(opts.nbd.port)) issues.push({ field: 'nbd.port', message: 'must be a TCP port (1-65535)' });
  if (opts.nbd.exports.length === 0) issues.push({ field: 'nbd.exports', message: 'must name at least one disk' });
  for (const e of opts.nbd.exports) {
    const disk = spec.disks.find((d) => d.id === e.diskId);
    if (!disk) issues.push({ field: 'nbd.exports', message: `the VM has no disk ${e.diskId}` });
    else if (disk.readOnly) issues.push({ field: 'nbd.exports', message: `disk ${e.diskId} is read-only` });
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(e.name)) issues.push({ field: 'nbd.exports', message: `export name ${e.name} must be 1-64 of A-Z a-z 0-9 . _ -` });
  }
  if (opts.sync !== 'top' && opts.sync !== 'full') issues.push({ field: 'sync', message: 'must be top or full' });
  if (opts.maxBandwidthBytes !== undefined && !(Number.isInteger(opts.maxBandwidthBytes) && opts.maxBandwidthBytes > 0)) {
    issues.push({ field: 'maxBandwidthBytes', message: 'must be a positive whole number of bytes per second' });
  }
  if (issues.length > 0) throw new ValidationError('disk mirror options', issues);
}

/** Validates the options and returns the destination host of the URI (what its TLS certificate must name). */
export function checkOutgoingOptions(opts: OutgoingOptions): string {
  const issues: FieldIssue[] = [];
  const m = /^tcp:([0-9.]+):(\d{1,5})$/.exec(opts.uri);
  if (!m || parseIpv4(m[1]!) === undefined || !isPort(Number(m[2]))) issues.push({ field: 'uri', message: 'must be tcp:<IPv4 address>:<port>' });
  const p = opts.params;
  if (!(Number.isInteger(p.maxBandwidthBytes) && p.maxBandwidthBytes > 0)) issues.push({ field: 'params.maxBandwidthBytes', message: 'must be a positive whole number' });
  if (!(Number.isInteger(p.downtimeLimitMs) && p.downtimeLimitMs >= 1 && p.downtimeLimitMs <= 2_000_000)) {
    issues.push({ field: 'params.downtimeLimitMs', message: 'must be a whole number of ms (1-2000000)' });
  }
  if (issues.length > 0) throw new ValidationError('migration options', issues);
  return m![1]!;
}

export function checkTuning(t: MigrationTuning): void {
  const issues: FieldIssue[] = [];
  if (t.downtimeLimitMs !== undefined && !(Number.isInteger(t.downtimeLimitMs) && t.downtimeLimitMs >= 1 && t.downtimeLimitMs <= 2_000_000)) {
    issues.push({ field: 'downtimeLimitMs', message: 'must be a whole number of ms (1-2000000)' });
  }
  if (t.maxBandwidthBytes !== undefined && !(Number.isInteger(t.maxBandwidthBytes) && t.maxBandwidthBytes > 0)) {
    issues.push({ field: 'maxBandwidthBytes', message: 'must be a positive whole number' });
  }
  if (t.cpuThrottlePercent !== undefined && !(Number.isInteger(t.cpuThrottlePercent) && t.cpuThrottlePercent >= 1 && t.cpuThrottlePercent <= 99)) {
    issues.push({ field: 'cpuThrottlePercent', message: 'must be a whole percentage (1-99)' });
  }
  if (issues.length > 0) throw new ValidationError('migration tuning', issues);
}
