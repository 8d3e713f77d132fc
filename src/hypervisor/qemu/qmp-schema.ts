/**
 * The slice of QEMU 7.2's QMP schema nubo uses, typed at the seam. Commands not
 * listed here can still be sent through `QmpClient.executeUnchecked`.
 */

export type QmpRunState =
  | 'debug' | 'inmigrate' | 'internal-error' | 'io-error' | 'paused' | 'postmigrate'
  | 'prelaunch' | 'finish-migrate' | 'restore-vm' | 'running' | 'save-vm' | 'shutdown'
  | 'suspended' | 'watchdog' | 'guest-panicked' | 'colo';

export type QmpMigrationStatus =
  | 'none' | 'setup' | 'cancelling' | 'cancelled' | 'active' | 'postcopy-active'
  | 'postcopy-paused' | 'postcopy-recover' | 'completed' | 'failed' | 'colo'
  | 'pre-switchover' | 'device' | 'wait-unplug';

export interface QmpMigrationStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  normal: number;
  'normal-bytes': number;
  'dirty-pages-rate': number;
  mbps: number;
  'dirty-sync-count': number;
  'precopy-bytes'?: number;
  'downtime-bytes'?: number;
}

export interface QmpMigrationInfo {
  status?: QmpMigrationStatus;
  ram?: QmpMigrationStats;
  'total-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'setup-time'?: number;
  'error-desc'?: string;
  'cpu-throttle-percentage'?: number;
}

export interface QmpBlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  ready: boolean;
  status: string;
}

export interface QmpCommands {
  'qmp_capabilities': { args: { enable?: string[] }; result: Record<string, never> };
  'query-status': { args: undefined; result: { status: QmpRunState; running: boolean; singlestep?: boolean } };
  'query-version': { args: undefined; result: { qemu: { major: number; minor: number; micro: number }; package: string } };
  'query-kvm': { args: undefined; result: { enabled: boolean; present: boolean } };
  'query-migrate': { args: undefined; result: QmpMigrationInfo };
  'query-block-jobs': { args: undefined; result: QmpBlockJobInfo[] };
  'query-memory-size-summary': { args: undefined; result: { 'base-memory': number; 'plugged-memory'?: number } };
  'stop': { args: undefined; result: Record<string, never> };
  'cont': { args: undefined; result: Record<string, never> };
  'system_powerdown': { args: undefined; result: Record<string, never> };
  'system_reset': { args: undefined; result: Record<string, never> };
  'quit': { args: undefined; result: Record<string, never> };
  'migrate': { args: { uri: string; detach?: boolean; resume?: boolean }; result: Record<string, never> };
  'migrate-incoming': { args: { uri: string }; result: Record<string, never> };
  'migrate_cancel': { args: undefined; result: Record<string, never> };
  'migrate-set-capabilities': { args: { capabilities: { capability: string; state: boolean }[] }; result: Record<string, never> };
  'migrate-set-parameters': { args: Record<string, unknown>; result: Record<string, never> };
  'blockdev-add': { args: Record<string, unknown>; result: Record<string, never> };
  'blockdev-del': { args: { 'node-name': string }; result: Record<string, never> };
  'device_add': { args: Record<string, unknown> & { driver: string; id: string }; result: Record<string, never> };
  'device_del': { args: { id: string }; result: Record<string, never> };
}

export type QmpCommandName = keyof QmpCommands;

export interface QmpEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
  readonly timestamp: { seconds: number; microseconds: number };
}
