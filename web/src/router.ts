import { useEffect, useState } from 'preact/hooks';

/**
 * The dashboard's sections: the controller answers each (and anything under
 * it) with index.html — src/controller/dashboard-static.ts lists the same.
 */
export const SECTIONS = ['overview', 'vms', 'hosts', 'images', 'networks', 'volumes', 'migrations', 'leases'] as const;

const CHANGE = 'nubo:navigate';

/** Goes to a dashboard path without reloading the page. */
export function navigate(path: string): void {
  if (location.pathname === path) return;
  history.pushState(null, '', path);
  window.dispatchEvent(new Event(CHANGE));
}

/** The current path, re-rendered on navigate() and on the browser's back/forward. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = (): void => setPath(location.pathname);
    window.addEventListener(CHANGE, update);
    window.addEventListener('popstate', update);
    return () => {
      window.removeEventListener(CHANGE, update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

/** A click on an in-app link navigates without a reload (a modified click opens a tab as usual). */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.currentTarget as HTMLAnchorElement | null);
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.pathname);
}
