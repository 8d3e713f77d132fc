import { useState } from 'preact/hooks';
import { Api } from '../api';
import { ApiError } from '../api-error';
import type { User } from '../api-types';
import { ErrorBanner } from '../components/error-banner';

/** Sign-in with an API token (`nubo user token create`, or the one `nubo up` wrote): checked against /users/me before anything is shown. */
export function SignInPage({ onSignedIn }: { onSignedIn: (token: string, user: User) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      const t = token.trim();
      const user = await new Api(t).get<User>('/users/me');
      onSignedIn(t, user);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'NETWORK', String(err), undefined));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>nubo</h1>
      <form onSubmit={(e) => void submit(e)} aria-label="Sign in">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required value={token}
          onInput={(e) => setToken((e.currentTarget).value)} />
        <p class="hint">A token from <code>nubo user token create</code>, or the admin token <code>nubo up</code> saved.</p>
        <ErrorBanner error={error} />
        <button type="submit" disabled={busy || token.trim() === ''}>Sign in</button>
      </form>
    </main>
  );
}
