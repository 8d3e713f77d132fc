/** What the controller last learnt of a cloud's endpoint. */
export interface CloudHealth {
  readonly reachable: boolean | null;
  readonly checkedAt: string | null;
  readonly error: string | null;
}
