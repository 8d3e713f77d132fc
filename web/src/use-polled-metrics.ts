import { useEffect } from 'preact/hooks';
import { useLive, type Live } from './use-live';

/** Never poll faster than this, whatever interval the controller collects at. */
const MIN_POLL_MS = 2_000;

/**
 * Metrics from the API (`GET …/metrics`), polled at the collector's pace:
 * samples arrive without events, so no event reloads them. The host and VM
 * charts share it.
 */
export function usePolledMetrics<T extends { intervalMs: number }>(path: string): Live<T> {
  const m = useLive((a, signal) => a.get<T>(path, signal), [path], () => false);
  const every = Math.max(MIN_POLL_MS, m.data?.intervalMs ?? MIN_POLL_MS);
  useEffect(() => {
    const t = setInterval(m.reload, every);
    return () => clearInterval(t);
  }, [every, m.reload]);
  return m;
}
