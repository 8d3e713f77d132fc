import { z } from 'zod';

/** The native API's shape of an event (`/api/v1/events`). */

export const eventView = z.object({ seq: z.number(), at: z.string(), kind: z.string(), resource: z.string(), resourceId: z.string(), data: z.record(z.string(), z.unknown()) });
export type EventView = z.infer<typeof eventView>;
