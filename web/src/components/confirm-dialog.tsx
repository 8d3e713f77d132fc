import { useEffect, useRef } from 'preact/hooks';

export interface ConfirmRequest {
  readonly title: string;
  readonly message: string;
  readonly confirmLabel: string;
  readonly onConfirm: () => void;
}

/**
 * A modal <dialog> asking before a destructive action. The native dialog gives
 * focus trapping and Escape (= cancel) for free; Cancel has the focus first,
 * so Enter never destroys anything by accident.
 */
export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (request && !d.open) d.showModal();
    if (!request && d.open) d.close();
  }, [request]);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onClose={onClose}>
      {request && (
        <form method="dialog">
          <h2 id="confirm-title">{request.title}</h2>
          <p>{request.message}</p>
          <div class="buttons">
            <button type="submit" value="cancel" autofocus>Cancel</button>
            <button type="button" class="danger" onClick={() => { request.onConfirm(); onClose(); }}>{request.confirmLabel}</button>
          </div>
        </form>
      )}
    </dialog>
  );
}
