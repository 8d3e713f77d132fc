import type { FakeFleetOptions } from './fake-fleet.js';

/** What one fleet process is asked to be: its share of the fleet (fake-fleet-processes.ts → fake-fleet-child.ts). */
export interface FleetChildStart {
  readonly type: 'start';
  readonly options: Omit<FakeFleetOptions, 'logger' | 'realDisks'>;
  /** pino level of the process's log, written to its stderr (default `silent`). */
  readonly logLevel?: string | undefined;
}

/** One host of the fleet as the controller knows it: where its agent listens and the token it speaks with. */
export interface FleetHostAddress {
  readonly name: string;
  readonly url: string;
  readonly token: string;
}

/** The fleet's side of its heartbeats (FakeFleet's `beats` and `beatTimes`). */
export interface FleetBeatStats {
  readonly sent: number;
  readonly taken: number;
  readonly maxGapMs: number;
  readonly maxSampleMs: number;
  readonly maxSendMs: number;
}

/** A request to a fleet process; answered once by a `FleetChildAnswer` with the same id. */
export type FleetChildCall = { readonly type: 'call'; readonly id: number } & (
  | { readonly op: 'beatAll'; readonly concurrency: number }
  | { readonly op: 'startBeating' }
  | { readonly op: 'stopBeating' }
  | { readonly op: 'stats' }
  | { readonly op: 'silent'; readonly host: string; readonly silent: boolean }
  | { readonly op: 'close' }
);

export type FleetChildAnswer =
  | { readonly type: 'answer'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'answer'; readonly id: number; readonly ok: false; readonly message: string };

/** What a fleet process tells its parent: up (with its hosts), could not start, or an answer. */
export type FleetChildReport =
  | { readonly type: 'ready'; readonly hosts: readonly FleetHostAddress[] }
  | { readonly type: 'failed'; readonly message: string }
  | FleetChildAnswer;
