import { z } from 'zod';
import { CONSOLE_LOG_MAX_BYTES } from '../core/console-log.js';

/** `GET /agent/v1/vms/:id/console?bytes=`: how much of the log's tail to return (default 64 KiB, at most the log's cap). */
export const consoleTailQuerySchema = z.object({ bytes: z.coerce.number().int().min(1).max(CONSOLE_LOG_MAX_BYTES).optional() });

/**
 * `PUT /agent/v1/vms/:id/console/earlier`: the VM's console log from the host it came from (a migration's source),
 * kept before what this host's QEMU writes. Text as the source served it; the destination keeps its last
 * CONSOLE_LOG_MAX_BYTES.
 */
export const earlierConsoleSchema = z.strictObject({ log: z.string() });
export type EarlierConsole = z.infer<typeof earlierConsoleSchema>;
