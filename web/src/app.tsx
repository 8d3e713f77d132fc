import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api } from './api';
import type { User } from './api-types';
import { LiveEvents } from './live-events';
import { SessionContext, type Session } from './session-context';
import { forgetToken, savedToken, saveToken } from './session';
import { navigate, usePath } from './router';
import { Link } from './components/link';
import { SignInPage } from './pages/sign-in-page';
import { OverviewPage } from './pages/overview-page';
import { VmsPage } from './pages/vms-page';
import { VmCreatePage } from './pages/vm-create-page';
import { VmPage } from './pages/vm-page';
import { HostsPage } from './pages/hosts-page';
import { ImagesPage } from './pages/images-page';
import { NetworksPage } from './pages/networks-page';
import { VolumesPage } from './pages/volumes-page';
import { MigrationsPage } from './pages/migrations-page';
import { LeasesPage } from './pages/leases-page';
import { LeasePage } from './pages/lease-page';
import { newestEvents } from './newest-events';

const NAV: readonly [string, string][] = [
  ['/overview', 'Overview'], ['/vms', 'VMs'], ['/migrations', 'Migrations'], ['/hosts', 'Hosts'],
  ['/images', 'Templates & images'], ['/networks', 'Networks'], ['/volumes', 'Volumes'], ['/leases', 'Leases'],
];

interface SignedIn { token: string; user: User }

/** The shell: sign-in until there is a user, then the navigation and the page the path names. */
export function App() {
  const [signedIn, setSignedIn] = useState<SignedIn | null>(null);
  const [restoring, setRestoring] = useState(savedToken() !== null);
  const path = usePath();

  const enter = (token: string, user: User): void => {
    saveToken(token);
    setSignedIn({ token, user });
    if (location.pathname === '/' || location.pathname.startsWith('/sign-in')) navigate('/overview');
  };

  useEffect(() => {
    // A reload keeps the session: the token is checked again, and dropped if the API no longer knows it.
    const t = savedToken();
    if (t === null) return;
    new Api(t).get<User>('/users/me').then((u) => enter(t, u)).catch(() => forgetToken()).finally(() => setRestoring(false));
  }, []);

  if (restoring) return <p class="loading">Loading…</p>;
  if (signedIn === null) return <SignInPage onSignedIn={(t, u) => enter(t, u)} />;
  return <SignedInApp key={signedIn.token} s={signedIn} path={path} onSignOut={() => { forgetToken(); setSignedIn(null); navigate('/sign-in'); }} />;
}

function SignedInApp({ s, path, onSignOut }: { s: SignedIn; path: string; onSignOut: () => void }) {
  const [connected, setConnected] = useState(false);
  const session = useMemo<Session>(() => ({
    api: new Api(s.token), user: s.user, isAdmin: s.user.role === 'admin',
    events: new LiveEvents(s.token, () => newestEvents(new Api(s.token)), setConnected),
  }), [s]);
  useEffect(() => () => session.events.close(), [session]);
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">nubo</span>
        <nav aria-label="Sections">
          {NAV.map(([href, label]) => <Link key={href} href={href} current={path === href || path.startsWith(`${href}/`)}>{label}</Link>)}
        </nav>
        <span class="who">
          <span class={connected ? 'live on' : 'live off'} role="img" title={connected ? 'live updates on' : 'reconnecting to the event stream'} aria-label={connected ? 'live' : 'offline'} />
          {s.user.name} ({s.user.role})
          <button type="button" class="link" onClick={onSignOut}>Sign out</button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </SessionContext.Provider>
  );
}

function Page({ path }: { path: string }) {
  const parts = path.split('/').filter((p) => p !== '');
  switch (parts[0]) {
    case 'vms':
      if (parts[1] === 'new') return <VmCreatePage />;
      if (parts[1] !== undefined) return <VmPage id={decodeURIComponent(parts[1])} tab={parts[2] ?? 'summary'} />;
      return <VmsPage />;
    case 'hosts': return <HostsPage />;
    case 'images': return <ImagesPage />;
    case 'networks': return <NetworksPage />;
    case 'volumes': return <VolumesPage />;
    case 'migrations': return <MigrationsPage />;
    case 'leases': return parts[1] !== undefined ? <LeasePage id={decodeURIComponent(parts[1])} /> : <LeasesPage />;
    default: return <OverviewPage />;
  }
}
