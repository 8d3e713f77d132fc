import { transferLocalSourceSchema, type TransferLocalSource } from '../contract/agent-api.js';

/**
 * Asks the source (with the offer's token) where an offered file lies on its
 * machine. Undefined for any refusal or failure — the network copy that
 * follows then meets the same refusal and reports it in its own words.
 * @param fileUrl the file's transfer URL (`…/transfers/<id>/files/<name>`)
 */
export async function fetchLocalSource(fileUrl: string, token: string, signal: AbortSignal | undefined, timeoutMs = 5_000): Promise<TransferLocalSource | undefined> {
  const stop = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]);
  try {
    const res = await fetch(`${fileUrl}/local`, { headers: { authorization: `Bearer ${token}` }, signal: stop });
    if (res.status !== 200) {
      await res.body?.cancel();
      return undefined;
    }
    const r = transferLocalSourceSchema.safeParse(await res.json());
    return r.success ? r.data : undefined;
  } catch {
    if (signal?.aborted) throw signal.reason;
    return undefined;
  }
}
