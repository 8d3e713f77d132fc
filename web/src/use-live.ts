import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Api } from './api';
import { ApiError } from './api-error';
import type { NuboEvent } from './api-types';
import { useSession } from './session-context';

/** Events come in bursts (a VM's state changes a few times in a second): one reload per burst. */
const RELOAD_AFTER_MS = 250;

export interface Live<T> {
  readonly data: T | undefined;
  readonly error: ApiError | undefined;
  readonly reload: () => void;
}

/**
 * Data loaded from the API and loaded again whenever an event the page cares
 * about arrives (`relevant`, default every event): the page is live without
 * a reload, and what it shows is always what the API says, never a guess
 * patched from an event.
 */
export function useLive<T>(load: (api: Api, signal: AbortSignal) => Promise<T>, deps: readonly unknown[], relevant: (e: NuboEvent) => boolean = () => true): Live<T> {
  const { api, events } = useSession();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const relevantRef = useRef(relevant);
  relevantRef.current = relevant;
  const failedRef = useRef(false);
  failedRef.current = error !== undefined;

  useEffect(() => {
    const ac = new AbortController();
    load(api, ac.signal).then(
      (d) => {
        if (ac.signal.aborted) return;
        setData(d);
        setError(undefined);
      },
      (err: unknown) => {
        if (ac.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err), undefined));
      },
    );
    return () => ac.abort();
  }, [api, tick, ...deps]);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = events.listen((e) => {
      if (!relevantRef.current(e) || timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        reload();
      }, RELOAD_AFTER_MS);
    });
    // A page that shows an error (a VM the user may not see) asks again on the next relevant event, not because the stream opened.
    const offOpen = events.onOpen(() => { if (failedRef.current !== true) reload(); });
    return () => {
      off();
      offOpen();
      clearTimeout(timer);
    };
  }, [events, reload]);

  return { data, error, reload };
}
