import type { Generated } from 'kysely';
import type { IsoTime, JsonText } from './schema.js';

/* The HA rows (migration 0012), apart from schema.ts so that each feature's row types stay together. */

/** Whether a VM is restarted elsewhere when its host is fenced (migration 0012); no row: not. */
export interface VmHaTable {
  vm_id: string;
  enabled: number;
  updated_at: IsoTime;
}

export const FENCE_METHODS = ['none', 'command', 'lab'] as const;
export type FenceMethod = (typeof FENCE_METHODS)[number];
export const FENCING_STATES = ['ok', 'suspected', 'fencing', 'fenced', 'recovering', 'recovered'] as const;
export type FencingState = (typeof FENCING_STATES)[number];

/** A host's fence method and where its fencing stands (0012); no row: method `none`, state `ok`. */
export interface HostFencingTable {
  host_id: string;
  method: Generated<FenceMethod>;
  /** JSON: `{argv}` for `command`, `{labDir}` for `lab`. */
  config: Generated<JsonText>;
  timeout_ms: Generated<number>;
  state: Generated<FencingState>;
  /** The incident the fencing belongs to (set when the host is suspected): names the journal rows of its restarts. */
  incident: string | null;
  suspected_at: IsoTime | null;
  fencing_at: IsoTime | null;
  fenced_at: IsoTime | null;
  recovering_at: IsoTime | null;
  recovered_at: IsoTime | null;
  attempts: Generated<number>;
  last_error: string | null;
  /** The failing health check the host reports (proactive HA); null: healthy. */
  degraded: string | null;
  updated_at: IsoTime;
}

/** One decision of an incident about one VM (0012). */
export interface HaRestartsTable {
  id: Generated<number>;
  incident: string;
  host_id: string;
  vm_id: string;
  action: 'restart' | 'lost';
  state: 'planned' | 'restarting' | 'done' | 'failed';
  target_host_id: string | null;
  reason: string;
  created_at: IsoTime;
  updated_at: IsoTime;
}
