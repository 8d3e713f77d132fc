import { usePolledMetrics } from '../use-polled-metrics';
import { Sparkline, formatBytes, formatPercent } from './sparkline';

interface HostSample { at: string; vms: number; cpuPercent: number; machineCpuPercent: number; machineMemoryUsedBytes: number; machineMemoryTotalBytes: number; rssBytes: number }
interface HostMetrics { intervalMs: number; samples: HostSample[] }

/** A host's machine CPU and memory over its recent samples (`GET /hosts/{id}/metrics`, admin). */
export function HostMetricsCharts({ hostId, name }: { hostId: string; name: string }) {
  const m = usePolledMetrics<HostMetrics>(`/hosts/${hostId}/metrics`);
  const s = m.data?.samples ?? [];
  if (m.error) return <p class="hint">Metrics: {m.error.message}</p>;
  if (s.length === 0) return <p class="hint">No metrics yet.</p>;
  return (
    <div class="chart-grid compact" role="group" aria-label={`Metrics of ${name}`}>
      <Sparkline title="CPU" format={formatPercent} series={[{ label: 'machine', values: s.map((x) => x.machineCpuPercent), color: '#0b5cad' }]} />
      <Sparkline title="Memory" format={formatBytes} series={[{ label: 'used', values: s.map((x) => x.machineMemoryUsedBytes), color: '#1a7f37' }, { label: 'VMs', values: s.map((x) => x.rssBytes), color: '#9a6700' }]} />
    </div>
  );
}
