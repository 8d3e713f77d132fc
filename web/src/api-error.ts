/** An error answer of the native API (`{error: {code, message, details}}`), with the field it names when it names one. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field: string | undefined) {
    super(message);
  }

  /** From a response body; anything not in the API's shape becomes a plain HTTP error. */
  static from(status: number, body: unknown): ApiError {
    const e = (body as { error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } } | null)?.error;
    if (typeof e?.code !== 'string' || typeof e.message !== 'string') return new ApiError(status, 'HTTP_' + String(status), `the server answered ${status}`, undefined);
    return new ApiError(status, e.code, e.message, fieldOf(e.details));
  }
}

function fieldOf(details: Record<string, unknown> | undefined): string | undefined {
  const issues = details?.['issues'];
  if (Array.isArray(issues)) {
    const first = issues[0] as { field?: unknown } | undefined;
    if (typeof first?.field === 'string') return first.field;
  }
  const field = details?.['field'];
  return typeof field === 'string' ? field : undefined;
}
