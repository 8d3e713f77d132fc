/**
 * A network-level downtime probe for the migrate bench: iputils `ping -D` at a
 * 5 ms interval to a guest, from this process's namespace — the fabric side,
 * where the bench's HTTP client runs too (the fabric bridge holds the guest
 * network's gateway address). Started before a migration and stopped by its
 * pid after it; the replies' timestamps give the silence (ping-replies.ts).
 */
import { spawn } from 'node:child_process';
import { parsePingReplies, type PingReply } from './ping-replies.js';
import { runCommand } from '../src/util/run-command.js';

export interface IcmpProbe {
  readonly pid: number;
  /** Stops ping (SIGINT, so it flushes what it printed; SIGKILL after `timeoutMs`) and returns the replies it received. */
  stop(timeoutMs?: number): Promise<PingReply[]>;
}

/** Fails at once, with what to do, when ping is not there (the bench would otherwise fail at its first migration). */
export async function checkPing(o: { signal?: AbortSignal } = {}): Promise<void> {
  try {
    await runCommand('ping', ['-V'], { timeoutMs: 5_000, ...o });
    await runCommand('chrt', ['--fifo', '1', 'true'], { timeoutMs: 5_000, ...o });
  } catch (err) {
    throw new Error(`the ICMP downtime probe needs iputils ping (package iputils-ping; scripts/install-deps.sh) run real-time by chrt (root): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export function startIcmpProbe(address: string, o: { intervalMs: number }): IcmpProbe {
  // -n: addresses, no lookups; -W 1: a reply later than 1 s is not waited for at the end. chrt (which execs ping, so
  // the pid is ping's): on 2 cores busy with TCG guests and TLS, a normal-priority ping sends late and stamps replies
  // (-D is read when ping gets to them) late, both by whole scheduler slices; a real-time one, asleep nearly always,
  // keeps the 5 ms (the bench runs as root).
  const argv = ['--fifo', '1', 'ping', '-D', '-n', '-i', String(o.intervalMs / 1000), '-W', '1', address];
  const child = spawn('chrt', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let spawnError: Error | undefined;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('error', (e) => { spawnError = e; exited = true; resolve(); });
    child.once('close', () => { exited = true; resolve(); });
  });
  const pid = child.pid ?? -1;
  return {
    pid,
    async stop(timeoutMs = 5_000): Promise<PingReply[]> {
      const early = exited;
      if (!exited) child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([exit.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), timeoutMs); })]);
      clearTimeout(timer);
      if (timedOut) {
        child.kill('SIGKILL');
        await exit;
        throw new Error(`ping ${pid} did not stop on SIGINT within ${timeoutMs} ms (killed)`);
      }
      const stderr = Buffer.concat(err).toString().trim();
      if (spawnError) throw new Error(`ping: ${spawnError.message}`);
      if (early) throw new Error(`ping ${pid} ended before it was stopped (exit ${child.exitCode ?? child.signalCode}): ${stderr}`);
      return parsePingReplies(Buffer.concat(out).toString(), address);
    },
  };
}
