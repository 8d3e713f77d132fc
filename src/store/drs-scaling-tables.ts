import type { Generated, Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { StoreContext } from './store-context.js';

/**
 * The tables of migration 0013 (the rebalancer and autoscaling groups),
 * kept here rather than in schema.ts' Database so that the part that owns
 * them is one file; their repositories see them through `withTables`.
 */
export type DrsScalingTables = {
  drs_config: { id: string; enabled: number; interval_s: number; policy: string; updated_at: string };
  drs_plans: {
    id: string; trigger: 'manual' | 'periodic'; mode: string; state: 'applying' | 'done' | 'interrupted' | 'failed';
    plan: string; message: string | null; created_at: string; finished_at: string | null;
  };
  drs_moves: {
    plan_id: string; seq: number; vm_id: string; from_host_id: string; to_host_id: string;
    state: 'pending' | 'running' | 'done' | 'failed' | 'dropped'; migration_id: string | null; message: string | null;
  };
  scaling_groups: {
    id: string; name: string; owner_id: string; template_id: string; min_size: number; max_size: number; desired: number;
    policy: string; launch: Generated<string>; custom_metric: number | null; custom_metric_at: string | null; last_scale_at: string | null;
    next_member: Generated<number>; created_at: string; updated_at: string;
  };
  scaling_group_members: { group_id: string; vm_name: string; vm_id: string | null; state: 'creating' | 'active' | 'removing'; created_at: string };
  scaling_group_history: { id: Generated<number>; group_id: string; at: string; kind: string; desired_from: number | null; desired_to: number | null; message: string };
};

export type DrsScalingDb = Kysely<Database & DrsScalingTables>;

export function drsScalingDb(ctx: StoreContext): DrsScalingDb {
  return ctx.db.withTables<DrsScalingTables>();
}
