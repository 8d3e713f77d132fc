/**
 * The network-level downtime of a migration from `ping -D` (iputils): the
 * receive time of every echo reply, and the longest silence between two of
 * them across the migration. ICMP echo has no retransmit timers, so unlike an
 * HTTP client's gap (which adds whichever TCP RTO it hit: 200/400 ms, 1 s for
 * a lost SYN) this is the pause plus the fabric's switch, to one interval.
 */
import { longestGap, type Gap } from './client-windows.js';
import { median } from './support/quantile.js';

export interface PingReply {
  readonly seq: number;
  /** When ping received the reply (its -D timestamp: wall clock, like Date.now()), ms. */
  readonly atMs: number;
}

// `[1796565352.461542] 64 bytes from 198.18.66.200: icmp_seq=1 ttl=64 time=0.263 ms` (-n: the address, not a name).
const REPLY = /^\[(\d+\.\d+)\] \d+ bytes from ([0-9.]+): icmp_seq=(\d+) /;

/**
 * The echo replies from `from` in ping -D -n output, in the order received.
 * Everything else — the header, the statistics, `no answer yet` (-O),
 * `Destination Host Unreachable` from a router — is not an answer of the guest.
 */
export function parsePingReplies(output: string, from: string): PingReply[] {
  const out: PingReply[] = [];
  for (const line of output.split('\n')) {
    const m = REPLY.exec(line);
    if (m === null || m[2] !== from) continue;
    out.push({ seq: Number(m[3]), atMs: Number(m[1]) * 1000 });
  }
  return out;
}

export interface NetworkDowntime extends Gap {
  /** Echo requests of the capture left unanswered (sequence numbers missing between the first and the last reply). */
  readonly lost: number;
  readonly replies: number;
  /** Median spacing of consecutive replies, ms: the resolution the probe really had (a loaded machine sends late). */
  readonly medianIntervalMs: number;
}

/**
 * The longest interval between consecutive replies that overlaps [from, to]
 * (absolute ms). NaN when the capture does not hold the silence: no reply
 * before `from` or none after `to` — a silence that ran past either end would
 * otherwise be reported as some shorter, earlier gap.
 */
export function networkDowntime(replies: readonly PingReply[], from: number, to: number): NetworkDowntime {
  const at = replies.map((r) => r.atMs);
  const seqs = new Set(replies.map((r) => r.seq));
  const span = replies.length === 0 ? 0 : Math.max(...seqs) - Math.min(...seqs) + 1;
  const lost = span - seqs.size;
  const spacing = median(at.slice(1).map((t, i) => t - at[i]!));
  const first = at[0];
  const last = at[at.length - 1];
  const about = { lost, replies: replies.length, medianIntervalMs: spacing };
  if (first === undefined || last === undefined || !(first < from) || !(last > to)) return { ms: NaN, lastBefore: NaN, firstAfter: NaN, ...about };
  return { ...longestGap(at, from, to), ...about };
}
