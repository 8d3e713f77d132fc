import type { ApiError } from '../api-error';

/** An API error as the user reads it: the message, and the field it names when it names one. */
export function ErrorBanner({ error }: { error: ApiError | undefined }) {
  if (error === undefined) return null;
  return (
    <div class="error" role="alert">
      <strong>{error.code}</strong>: {error.message}
      {error.field !== undefined && <span class="field"> (field <code>{error.field}</code>)</span>}
    </div>
  );
}
