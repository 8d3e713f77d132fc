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
  'page-size'?: number;
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
  /** Destination only: where `migrate-incoming` listens (the real port when 0 was asked for). */
  'socket-address'?: QmpSocketAddress[];
}

/** QEMU's flat SocketAddress (query results, blockdev-add `server`). */
export type QmpSocketAddress =
  | { type: 'inet'; host: string; port: string; ipv4?: boolean; ipv6?: boolean; to?: number }
  | { type: 'unix'; path: string };

/** The legacy (`{type, data}`) SocketAddress that `nbd-server-start` still takes in 7.2. */
export type QmpSocketAddressLegacy =
  | { type: 'inet'; data: { host: string; port: string } }
  | { type: 'unix'; data: { path: string } };

export type QmpMigrationCapability = 'events' | 'auto-converge' | 'xbzrle' | 'postcopy-ram' | 'pause-before-switchover' | 'return-path' | 'x-ignore-shared';

/** The migration parameters nubo sets; QEMU has more. tls-creds '' switches TLS off. */
// A type, not an interface: command arguments must be assignable to Record<string, unknown>.
export type QmpMigrationParameters = {
  'downtime-limit'?: number;
  'max-bandwidth'?: number;
  'cpu-throttle-initial'?: number;
  'cpu-throttle-increment'?: number;
  'tls-creds'?: string;
  'tls-hostname'?: string;
};

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
  'auto-dismiss'?: boolean;
  /** Set on a concluded job that failed or was force-cancelled. */
  error?: string;
}

export interface QmpBlockNodeInfo {
  'node-name': string;
  drv: string;
  file: string;
  ro: boolean;
}

/** One device's counters from `query-blockstats` (the slice nubo reads). */
export interface QmpBlockStats {
  device?: string;
  qdev?: string;
  stats: { rd_bytes: number; wr_bytes: number; rd_operations: number; wr_operations: number };
}

/** `query-dirty-rate` (QEMU 7.2): `dirty-rate` in MiB/s, present once `status` is `measured`. */
export interface QmpDirtyRateInfo {
  'dirty-rate'?: number;
  status: 'unstarted' | 'measuring' | 'measured';
  'start-time': number;
  'calc-time': number;
  'sample-pages': number;
  mode: 'page-sampling' | 'dirty-ring' | 'dirty-bitmap';
}

export interface QmpCommands {
  'qmp_capabilities': { args: { enable?: string[] }; result: Record<string, never> };
  'query-status': { args: undefined; result: { status: QmpRunState; running: boolean; singlestep?: boolean } };
  'query-version': { args: undefined; result: { qemu: { major: number; minor: number; micro: number }; package: string } };
  'query-kvm': { args: undefined; result: { enabled: boolean; present: boolean } };
  'query-migrate': { args: undefined; result: QmpMigrationInfo };
  'query-block-jobs': { args: undefined; result: QmpBlockJobInfo[] };
  'query-memory-size-summary': { args: undefined; result: { 'base-memory': number; 'plugged-memory'?: number } };
  'query-blockstats': { args: undefined; result: QmpBlockStats[] };
  'query-cpus-fast': { args: undefined; result: { 'cpu-index': number; 'thread-id': number }[] };
  /** 7.2: `calc-time` in seconds; page sampling is the only mode that works without KVM's dirty ring or log. */
  'calc-dirty-rate': { args: { 'calc-time': number; 'sample-pages'?: number; mode?: 'page-sampling' }; result: Record<string, never> };
  'query-dirty-rate': { args: undefined; result: QmpDirtyRateInfo };
  'stop': { args: undefined; result: Record<string, never> };
  'cont': { args: undefined; result: Record<string, never> };
  'system_powerdown': { args: undefined; result: Record<string, never> };
  'system_reset': { args: undefined; result: Record<string, never> };
  'set-action': { args: { shutdown?: 'poweroff' | 'pause'; reboot?: 'reset' | 'shutdown' }; result: Record<string, never> };
  'quit': { args: undefined; result: Record<string, never> };
  'migrate': { args: { uri: string; detach?: boolean; resume?: boolean }; result: Record<string, never> };
  'migrate-incoming': { args: { uri: string }; result: Record<string, never> };
  'migrate_cancel': { args: undefined; result: Record<string, never> };
  'migrate-set-capabilities': { args: { capabilities: { capability: QmpMigrationCapability; state: boolean }[] }; result: Record<string, never> };
  'query-migrate-capabilities': { args: undefined; result: { capability: string; state: boolean }[] };
  'migrate-set-parameters': { args: QmpMigrationParameters; result: Record<string, never> };
  'query-migrate-parameters': { args: undefined; result: QmpMigrationParameters & Record<string, unknown> };
  'migrate-start-postcopy': { args: undefined; result: Record<string, never> };
  'blockdev-add': { args: Record<string, unknown>; result: Record<string, never> };
  'blockdev-del': { args: { 'node-name': string }; result: Record<string, never> };
  'query-named-block-nodes': { args: { flat?: boolean }; result: QmpBlockNodeInfo[] };
  'blockdev-mirror': {
    args: {
      'job-id': string;
      device: string;
      target: string;
      sync: 'top' | 'full' | 'none';
      speed?: number;
      'auto-dismiss'?: boolean;
      'copy-mode'?: 'background' | 'write-blocking';
    };
    result: Record<string, never>;
  };
  'block-job-cancel': { args: { device: string; force?: boolean }; result: Record<string, never> };
  'block-job-complete': { args: { device: string }; result: Record<string, never> };
  'block-job-set-speed': { args: { device: string; speed: number }; result: Record<string, never> };
  'job-dismiss': { args: { id: string }; result: Record<string, never> };
  'nbd-server-start': { args: { addr: QmpSocketAddressLegacy; 'tls-creds'?: string }; result: Record<string, never> };
  'nbd-server-stop': { args: undefined; result: Record<string, never> };
  'block-export-add': { args: { type: 'nbd'; id: string; 'node-name': string; name?: string; writable?: boolean }; result: Record<string, never> };
  'object-add': { args: { 'qom-type': string; id: string } & Record<string, unknown>; result: Record<string, never> };
  'object-del': { args: { id: string }; result: Record<string, never> };
  'qom-list': { args: { path: string }; result: { name: string; type: string }[] };
  'qom-get': { args: { path: string; property: string }; result: string | number | boolean | null | Record<string, unknown> };
  'device_add': { args: Record<string, unknown> & { driver: string; id: string }; result: Record<string, never> };
  'device_del': { args: { id: string }; result: Record<string, never> };
  'netdev_add': { args: Record<string, unknown> & { type: string; id: string }; result: Record<string, never> };
  'netdev_del': { args: { id: string }; result: Record<string, never> };
  /** Forcibly shuts hanging network connections (NBD client nodes, the migration stream) so waiting requests fail at once. */
  'yank': { args: { instances: ({ type: 'block-node'; 'node-name': string } | { type: 'migration' } | { type: 'chardev'; id: string })[] }; result: Record<string, never> };
}

export type QmpCommandName = keyof QmpCommands;

export interface QmpEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
  readonly timestamp: { seconds: number; microseconds: number };
}
