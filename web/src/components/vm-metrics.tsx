import { usePolledMetrics } from '../use-polled-metrics';
import { ErrorBanner } from './error-banner';
import { Sparkline, formatBytes, formatPercent, formatRate } from './sparkline';

interface VmSample {
  at: string; cpuPercent: number; vcpuPercent: number; rssBytes: number; memoryBytes: number;
  diskReadBytesPerSec: number; diskWriteBytesPerSec: number; netRxBytesPerSec: number; netTxBytesPerSec: number;
}
interface VmMetrics { intervalMs: number; samples: VmSample[] }

/** A VM's recent CPU, memory, disk and network I/O (`GET /vms/{id}/metrics`), polled at the collector's pace: samples arrive without events. */
export function VmMetricsCharts({ vmId }: { vmId: string }) {
  const m = usePolledMetrics<VmMetrics>(`/vms/${vmId}/metrics`);
  const s = m.data?.samples ?? [];
  return (
    <section aria-label="Metrics" class="charts" data-latest={s.at(-1)?.at}>
      <h2>Metrics</h2>
      <ErrorBanner error={m.error} />
      {m.data && s.length === 0 && <p class="hint">No samples yet: the first arrive one collection interval after the VM starts.</p>}
      {s.length > 0 && (
        <div class="chart-grid">
          <Sparkline title="CPU" format={formatPercent} series={[{ label: 'process', values: s.map((x) => x.cpuPercent), color: '#0b5cad' }, { label: 'vCPUs', values: s.map((x) => x.vcpuPercent), color: '#9a6700' }]} />
          <Sparkline title="Memory" format={formatBytes} series={[{ label: 'resident', values: s.map((x) => x.rssBytes), color: '#1a7f37' }]} />
          <Sparkline title="Disk I/O" format={formatRate} series={[{ label: 'read', values: s.map((x) => x.diskReadBytesPerSec), color: '#0b5cad' }, { label: 'write', values: s.map((x) => x.diskWriteBytesPerSec), color: '#b3261e' }]} />
          <Sparkline title="Network" format={formatRate} series={[{ label: 'rx', values: s.map((x) => x.netRxBytesPerSec), color: '#0b5cad' }, { label: 'tx', values: s.map((x) => x.netTxBytesPerSec), color: '#b3261e' }]} />
        </div>
      )}
    </section>
  );
}
