import { z } from 'zod';

/**
 * Metrics on the wire: what an agent answers on `GET /agent/v1/metrics` (its
 * latest samples) and what the native API serves from the controller's
 * history (`/api/v1/vms/{id}/metrics`, `/api/v1/hosts/{id}/metrics`).
 * Rates are over the sampling interval that ends at `at`.
 */

const nonNegative = z.number().min(0);

export const vmSampleSchema = z.object({
  at: z.iso.datetime(),
  /** Percent of one CPU the VM's QEMU process used (200 = two CPUs). */
  cpuPercent: nonNegative,
  /** The same for the guest's vCPU threads only. */
  vcpuPercent: nonNegative,
  rssBytes: nonNegative,
  memoryBytes: nonNegative,
  diskReadBytesPerSec: nonNegative,
  diskWriteBytesPerSec: nonNegative,
  netRxBytesPerSec: nonNegative,
  netTxBytesPerSec: nonNegative,
});
export type VmSampleView = z.infer<typeof vmSampleSchema>;

/** Counters since the VM's process started, as of the latest sample. */
export const vmTotalsSchema = z.object({
  diskReadBytes: nonNegative,
  diskWriteBytes: nonNegative,
  netRxBytes: nonNegative,
  netTxBytes: nonNegative,
});

export const hostSampleSchema = z.object({
  at: z.iso.datetime(),
  vms: z.number().int().min(0),
  /** Sums over the host's VMs. */
  cpuPercent: nonNegative,
  vcpuPercent: nonNegative,
  rssBytes: nonNegative,
  memoryBytes: nonNegative,
  diskReadBytesPerSec: nonNegative,
  diskWriteBytesPerSec: nonNegative,
  netRxBytesPerSec: nonNegative,
  netTxBytesPerSec: nonNegative,
  /** The machine itself: percent of all its CPUs busy (0–100). */
  machineCpuPercent: z.number().min(0).max(100),
  machineCpus: z.number().int().min(0),
  machineMemoryUsedBytes: nonNegative,
  machineMemoryTotalBytes: nonNegative,
});
export type HostSampleView = z.infer<typeof hostSampleSchema>;

/** An agent's latest samples (agent VM ids); `host` is null until two readings were taken. */
export const agentMetricsSchema = z.object({
  intervalMs: z.number().int().positive(),
  host: hostSampleSchema.nullable(),
  vms: z.array(z.object({ id: z.string(), sample: vmSampleSchema, totals: vmTotalsSchema })),
});
export type AgentMetrics = z.infer<typeof agentMetricsSchema>;

export const metricsQuery = z.strictObject({
  /** Only samples taken after this instant (ISO 8601); all that are kept when absent. */
  since: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z' }).optional(),
});

export const vmMetricsView = z.object({
  vmId: z.string(),
  /** The host that reported the samples last; null when none did yet. */
  hostId: z.string().nullable(),
  /** How often the controller collects: the spacing of the samples. */
  intervalMs: z.number().int().positive(),
  totals: vmTotalsSchema.nullable(),
  samples: z.array(vmSampleSchema),
});
export type VmMetricsView = z.infer<typeof vmMetricsView>;

export const hostMetricsView = z.object({
  hostId: z.string(),
  name: z.string(),
  intervalMs: z.number().int().positive(),
  samples: z.array(hostSampleSchema),
});
export type HostMetricsView = z.infer<typeof hostMetricsView>;

/** `nubo vm top`: the latest sample of every VM the caller may see. */
export const vmTopView = z.array(z.object({ vmId: z.string(), name: z.string(), hostId: z.string().nullable(), sample: vmSampleSchema.nullable() }));
export type VmTopView = z.infer<typeof vmTopView>;

/** `nubo host top`: the latest sample of every host (admin). */
export const hostTopView = z.array(z.object({ hostId: z.string(), name: z.string(), state: z.string(), sample: hostSampleSchema.nullable() }));
export type HostTopView = z.infer<typeof hostTopView>;
