import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api';
import type { User } from './api-types';
import type { LiveEvents } from './live-events';

/** The signed-in user's API client, who they are, and the live event stream. */
export interface Session {
  readonly api: Api;
  readonly user: User;
  readonly events: LiveEvents;
  readonly isAdmin: boolean;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (s === null) throw new Error('useSession outside a signed-in page');
  return s;
}
