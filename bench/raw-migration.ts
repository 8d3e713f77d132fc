/**
 * The migration benchmark's baseline: one live migration of a running QEMU to
 * a new QEMU on another lab host, by the plain QMP commands a hand-written
 * script would send (FACTS.md's verified 7.2 sequence), tuned like nubo's
 * default policy, so the difference to nubo is what nubo adds around them.
 */
import type { QmpMigrationInfo } from '../src/hypervisor/qemu/qmp-schema.js';
import type { VmSpec } from '../src/hypervisor/vm-spec.js';
import { deadline, pollUntil } from '../src/util/deadline.js';
import { startRawQemu, stopRawQemu, type RawQemu } from './raw-qemu.js';

export interface RawEnd {
  /** Lab host namespace the QEMU runs in. */
  readonly netns: string;
  /** Run directory of the raw QEMUs on that host. */
  readonly runDir: string;
  /** Migration (management) address of the host. */
  readonly address: string;
  /** tls-creds-x509 directory of the host; undefined: no TLS. */
  readonly tlsDir: string | undefined;
}

export interface RawParams {
  readonly downtimeLimitMs: number;
  readonly maxBandwidthBytes: number;
  readonly autoConverge: boolean;
  readonly xbzrle: boolean;
  /**
   * nubo's QEMU settings for a VM on the shared datastore (resume on completion): the source with the `return-path`
   * capability, the destination started without `-S` so that it runs the guest the moment the stream completed. Off:
   * FACTS.md's plain sequence (`cont` after the completion).
   */
  readonly resumeOnCompletion?: boolean;
}

export interface RawMigrationResult {
  /** The running destination, which is the VM from now on. */
  readonly vm: RawQemu;
  /** Wall-clock ms (performance.timeOrigin-based) of each step. */
  readonly at: {
    readonly destStart: number; readonly destQmp: number; readonly destCaps: number; readonly destTls: number; readonly destListening: number; readonly migrate: number;
    readonly sourceCompleted: number; readonly destPaused: number; readonly destRunning: number;
  };
  /** The source's query-migrate once completed. */
  readonly final: QmpMigrationInfo;
  /** Highest dirty rate the source reported during pre-copy, bytes/s. */
  readonly maxDirtyRateBytes: number;
  /** Last dirty rate reported while active, bytes/s. */
  readonly lastDirtyRateBytes: number;
  readonly maxThrottlePercent: number;
  /** The dirty rate in the `completed` query-migrate itself, bytes/s (what a reader of only that answer gets). */
  readonly completedDirtyRateBytes: number;
  /** The guest's pause from QEMU's own clock: the source's STOP event → the destination's RESUME event, ms. */
  readonly pauseMs: number;
}

/** Absolute ms of a QMP event, from the timestamp QEMU stamped it with (µs resolution). */
export const qmpEventMs = (e: { timestamp: { seconds: number; microseconds: number } }): number => e.timestamp.seconds * 1000 + e.timestamp.microseconds / 1000;

const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * Migrates `source` into a fresh QEMU of the same spec in `to`'s namespace:
 * destination `-S -incoming defer` → capabilities, parameters (and TLS) →
 * `migrate-incoming tcp:<to>:0` → source `migrate` → `query-migrate` every
 * 20 ms until completed → destination paused → `cont` → running. With
 * `resumeOnCompletion` (nubo's QEMU settings): no `-S`, `return-path` on the
 * source, and the destination runs by itself (polled until running). The source is
 * quit afterwards (not timed). A failure quits the destination and `cont`s
 * nothing: the caller tears both down.
 */
export async function rawMigrate(source: RawQemu, spec: VmSpec, to: RawEnd, from: RawEnd, p: RawParams, opts: { accel: 'kvm' | 'tcg'; run: number; signal: AbortSignal; timeoutMs: number }): Promise<RawMigrationResult> {
  const d = deadline(`raw migration of ${spec.id} to ${to.netns}`, opts.timeoutMs, opts.signal);
  const o = { signal: d.signal, timeoutMs: 10_000 };
  let dest: RawQemu | undefined;
  try {
    const destStart = wallNow();
    const auto = p.resumeOnCompletion === true;
    dest = await startRawQemu({ ...spec, netns: to.netns }, { accel: opts.accel, runDir: to.runDir, incoming: true, autostart: auto, ...o });
    const destQmp = wallNow();
    const dq = dest.qmp;
    const sq = source.qmp;
    // Object ids new per run: a QEMU that arrived over TLS still holds the server credentials it was made with.
    const tlsIn = `bench-tls-in-${opts.run}`;
    const tlsOut = `bench-tls-out-${opts.run}`;
    await dq.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }, { capability: 'postcopy-ram', state: false }] }, o);
    const destCaps = wallNow();
    if (to.tlsDir !== undefined) {
      await dq.executeUnchecked('object-add', { 'qom-type': 'tls-creds-x509', id: tlsIn, dir: to.tlsDir, endpoint: 'server', 'verify-peer': true }, o);
      await dq.execute('migrate-set-parameters', { 'tls-creds': tlsIn }, o);
    }
    const destTls = wallNow();
    await dq.execute('migrate-incoming', { uri: `tcp:${to.address}:0` }, o);
    const addr = (await dq.execute('query-migrate', undefined, o))['socket-address']?.find((a) => a.type === 'inet');
    if (addr?.type !== 'inet') throw new Error('the destination did not say where it listens');
    const destListening = wallNow();

    await sq.execute('migrate-set-capabilities', {
      capabilities: [
        { capability: 'events', state: true }, { capability: 'auto-converge', state: p.autoConverge },
        { capability: 'xbzrle', state: p.xbzrle }, { capability: 'postcopy-ram', state: false }, { capability: 'return-path', state: auto },
      ],
    }, o);
    if (from.tlsDir !== undefined) await sq.executeUnchecked('object-add', { 'qom-type': 'tls-creds-x509', id: tlsOut, dir: from.tlsDir, endpoint: 'client', 'verify-peer': true }, o);
    await sq.execute('migrate-set-parameters', {
      'downtime-limit': p.downtimeLimitMs,
      'max-bandwidth': p.maxBandwidthBytes,
      'tls-creds': from.tlsDir !== undefined ? tlsOut : '',
      'tls-hostname': from.tlsDir !== undefined ? to.address : '',
    }, o);
    // Armed before `migrate`, so the source's STOP cannot pass unseen.
    const stopped = sq.waitForEvent('STOP', { signal: d.signal, timeoutMs: opts.timeoutMs });
    stopped.catch(() => {});
    // Armed as early: with resume on completion the destination runs the guest before the source says completed.
    const resumed = dq.waitForEvent('RESUME', { signal: d.signal, timeoutMs: opts.timeoutMs });
    resumed.catch(() => {});
    const migrate = wallNow();
    await sq.execute('migrate', { uri: `tcp:${to.address}:${addr.port}` }, o);

    let maxDirty = 0;
    let lastDirty = 0;
    let maxThrottle = 0;
    const sample = (i: QmpMigrationInfo): void => {
      if (i.ram) {
        // QEMU 7.2 computes the rate only when a bitmap sync comes over 1 s after the previous computation.
        const rate = i.ram['dirty-pages-rate'] * (i.ram['page-size'] ?? 4096);
        maxDirty = Math.max(maxDirty, rate);
        if (rate > 0) lastDirty = rate;
      }
      maxThrottle = Math.max(maxThrottle, i['cpu-throttle-percentage'] ?? 0);
    };
    let final = await pollUntil('source migration completed', async () => {
      const i = await sq.execute('query-migrate', undefined, o);
      if (i.status === 'failed' || i.status === 'cancelled') throw new Error(`the source reports the migration ${i.status}: ${i['error-desc'] ?? ''}`);
      sample(i);
      return i.status === 'completed' ? i : undefined;
    }, { signal: d.signal, timeoutMs: opts.timeoutMs, intervalMs: 20 });
    const sourceCompleted = wallNow();
    let destPaused = sourceCompleted;
    if (!auto) {
      // `cont` while the destination is still `inmigrate` would only arm autostart: wait until it holds the whole state.
      await pollUntil('destination paused', async () => {
        const s = (await dq.execute('query-status', undefined, o)).status;
        if (s === 'inmigrate') return undefined;
        if (s !== 'paused') throw new Error(`the destination is ${s}, not paused`);
        return true;
      }, { signal: d.signal, timeoutMs: 30_000, intervalMs: 5 });
      destPaused = wallNow();
      await dq.execute('cont', undefined, o);
    }
    await pollUntil('destination running', async () => ((await dq.execute('query-status', undefined, o)).status === 'running' ? true : undefined), { signal: d.signal, timeoutMs: 10_000, intervalMs: 5 });
    const destRunning = wallNow();
    // The migration thread says `completed` a moment before it fills in total-time and downtime: read them once they are there.
    if (!(final['total-time'] ?? 0)) {
      final = await pollUntil('source migration totals', async () => {
        const i = await sq.execute('query-migrate', undefined, o);
        return (i['total-time'] ?? 0) > 0 ? i : undefined;
      }, { signal: d.signal, timeoutMs: 5_000, intervalMs: 10 });
    }
    sample(final);
    const pauseMs = qmpEventMs(await resumed) - qmpEventMs(await stopped);
    await stopRawQemu(source);
    return {
      vm: dest,
      at: { destStart, destQmp, destCaps, destTls, destListening, migrate, sourceCompleted, destPaused, destRunning },
      final, maxDirtyRateBytes: maxDirty, lastDirtyRateBytes: lastDirty, maxThrottlePercent: maxThrottle,
      completedDirtyRateBytes: (final.ram?.['dirty-pages-rate'] ?? 0) * (final.ram?.['page-size'] ?? 4096),
      pauseMs,
    };
  } catch (err) {
    if (dest) await stopRawQemu(dest).catch(() => {});
    throw err;
  } finally {
    d.dispose();
  }
}
