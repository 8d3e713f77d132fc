/**
 * The agents' side of a nubo migration, read back from their pino logs: when
 * each request arrived and how long the agent took, and when the driver had
 * the destination QEMU up. Lets the benchmark say where nubo's time goes
 * between the controller's journal entries. Log lines that are not JSON are skipped.
 */
import { readFile } from 'node:fs/promises';

export interface AgentRequest {
  readonly host: string;
  readonly method: string;
  readonly url: string;
  /** Arrival (absolute ms) and the agent's own handling time. */
  readonly at: number;
  readonly ms: number;
}

export interface AgentTimeline {
  readonly requests: readonly AgentRequest[];
  /** Absolute ms of each incoming-mode QEMU start the driver logged, per host. */
  readonly incomingQemuStarted: readonly { host: string; at: number }[];
  /**
   * STOP and RESUME events of the VMs, at QEMU's own timestamps (absolute ms):
   * the driver logs them at debug level, so the agents must run with NUBO_LOG_LEVEL=debug.
   */
  readonly runStateEvents: readonly { host: string; vmId: string; event: 'STOP' | 'RESUME'; at: number }[];
}

interface LogLine { time?: number; reqId?: string; msg?: string; mode?: string; req?: { method?: string; url?: string }; responseTime?: number; vmId?: string; event?: string; timestamp?: { seconds?: number; microseconds?: number } }

export async function readAgentTimeline(logs: readonly { host: string; file: string }[]): Promise<AgentTimeline> {
  const requests: AgentRequest[] = [];
  const incomingQemuStarted: { host: string; at: number }[] = [];
  const runStateEvents: { host: string; vmId: string; event: 'STOP' | 'RESUME'; at: number }[] = [];
  for (const { host, file } of logs) {
    const open = new Map<string, { method: string; url: string; at: number }>();
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      let l: LogLine;
      try {
        l = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      if (typeof l.time !== 'number') continue;
      if (l.msg === 'incoming request' && l.reqId !== undefined && l.req?.url !== undefined) open.set(l.reqId, { method: l.req.method ?? '?', url: l.req.url, at: l.time });
      else if (l.msg === 'request completed' && l.reqId !== undefined) {
        const r = open.get(l.reqId);
        open.delete(l.reqId);
        // responseTime is measured from arrival to the answer, with sub-ms precision.
        if (r) requests.push({ host, ...r, ms: l.responseTime ?? l.time - r.at });
      } else if (l.msg === 'vm started' && l.mode === 'incoming') incomingQemuStarted.push({ host, at: l.time });
      else if (l.msg === 'qmp event' && (l.event === 'STOP' || l.event === 'RESUME') && l.vmId !== undefined && typeof l.timestamp?.seconds === 'number') {
        runStateEvents.push({ host, vmId: l.vmId, event: l.event, at: l.timestamp.seconds * 1000 + (l.timestamp.microseconds ?? 0) / 1000 });
      }
    }
  }
  requests.sort((a, b) => a.at - b.at);
  runStateEvents.sort((a, b) => a.at - b.at);
  return { requests, incomingQemuStarted, runStateEvents };
}
