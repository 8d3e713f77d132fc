/** A VM's or host's state, coloured by what it means to an operator. */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}
