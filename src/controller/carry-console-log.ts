import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { CONSOLE_LOG_MAX_BYTES } from '../core/console-log.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Failpoints } from '../util/failpoints.js';

/** Each call's deadline: the carry is a nicety, and the source's release waits for it. */
const CARRY_MS = 10_000;

/**
 * A migration's carry of the VM's console log, after its commit and before the source's copy goes: the source's whole
 * log (up to its cap) is kept on the destination, which shows it before its own — so `vm console` reads one log
 * across the move, in order (the guest ran on the source until the switch, on the destination since). Best effort:
 * any failure is logged and the migration goes on; a crash before it loses the earlier log, never the VM.
 */
export async function carryConsoleLog(e: { readonly src: AgentClient; readonly dst: AgentClient; readonly id: string }, logger: Logger, migrationId: string, failpoints?: Failpoints): Promise<void> {
  try {
    // Tests fail the carry here (`migration.console-carry`): the migration must succeed all the same.
    await failpoints?.hit('migration.console-carry');
    const log = await e.src.consoleLog(e.id, { bytes: CONSOLE_LOG_MAX_BYTES, timeoutMs: CARRY_MS });
    if (log !== '') await e.dst.putEarlierConsole(e.id, log, { timeoutMs: CARRY_MS });
  } catch (err) {
    logger.warn({ migrationId, vmId: e.id, err: errorMessage(err) }, 'the console log was not carried to the destination; it shows only what the VM printed there');
  }
}
