import { z } from 'zod';

/** `PUT /api/v1/hosts/{id}/fence-config`: how nubo fences the host before its HA VMs are restarted elsewhere. */
export const fenceConfigBody = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('none') }),
  z.strictObject({
    method: z.literal('command'),
    argv: z.array(z.string().min(1).max(4096)).min(1).max(64).describe('the hook and its arguments (no shell); NUBO_HOST_NAME, NUBO_HOST_ID, NUBO_HOST_ADDRESS in its environment; exit 0 = fenced'),
    timeoutMs: z.number().int().min(100).max(600_000).optional(),
  }),
  z.strictObject({ method: z.literal('lab'), labDir: z.string().min(1).max(4096), timeoutMs: z.number().int().min(100).max(600_000).optional() }),
]);

export const haRestartView = z.object({
  vmId: z.string(), action: z.enum(['restart', 'lost']), state: z.enum(['planned', 'restarting', 'done', 'failed']),
  targetHostId: z.string().nullable(), reason: z.string(), createdAt: z.string(), updatedAt: z.string(),
});

/** A host's HA: its fence method and where its fencing stands, with the time of each step and the last incident's decisions. */
export const hostHaView = z.object({
  host: z.string(),
  method: z.enum(['none', 'command', 'lab']),
  argv: z.array(z.string()),
  labDir: z.string().nullable(),
  timeoutMs: z.number(),
  state: z.enum(['ok', 'suspected', 'fencing', 'fenced', 'recovering', 'recovered']),
  incident: z.string().nullable(),
  suspectedAt: z.string().nullable(),
  fencingAt: z.string().nullable(),
  fencedAt: z.string().nullable(),
  recoveringAt: z.string().nullable(),
  recoveredAt: z.string().nullable(),
  attempts: z.number(),
  lastError: z.string().nullable(),
  degraded: z.string().nullable(),
  restarts: z.array(haRestartView),
});
export type HostHaView = z.infer<typeof hostHaView>;

export const vmHaBody = z.strictObject({ ha: z.boolean() });
export const vmHaView = z.object({ vmId: z.string(), ha: z.boolean() });
