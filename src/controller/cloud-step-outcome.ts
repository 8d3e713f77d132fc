/** What a cloud's step tells the orchestrator: done, or the launch was refused and the VM goes back to waiting for a place (the reason). */
export type CloudStepOutcome = { readonly done: true } | { readonly requeue: string };
