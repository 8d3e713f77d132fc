/** What HashPool and its worker thread say to each other. */
export type HashPoolRequest =
  | { readonly op: 'update'; readonly job: number; readonly algorithm: string; readonly data: Uint8Array }
  | { readonly op: 'digest'; readonly job: number; readonly algorithm: string }
  | { readonly op: 'drop'; readonly job: number };

export type HashPoolReply =
  | { readonly op: 'ack'; readonly job: number; readonly bytes: number }
  | { readonly op: 'digest'; readonly job: number; readonly hex: string }
  | { readonly op: 'error'; readonly job: number; readonly message: string };
