import { useEffect, useState } from 'react';

/** Pages live in the URL's hash (#/sandboxes/NAME/terminal), so the daemon serves one file for all. */
export type Route = { page: 'fleet' } | { page: 'sandbox'; name: string; tab: string; arg?: string } | { page: 'hosts'; snapshot?: string } | { page: 'admin' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'sandboxes' && parts[1]) return { page: 'sandbox', name: parts[1], tab: parts[2] || 'terminal', arg: parts[3] };
  if (parts[0] === 'hosts') return { page: 'hosts', snapshot: parts[1] };
  if (parts[0] === 'admin') return { page: 'admin' };
  return { page: 'fleet' };
}

export const sandboxHref = (name: string, tab?: string, arg?: string) =>
  `#/sandboxes/${encodeURIComponent(name)}${tab ? `/${tab}` : ''}${arg ? `/${encodeURIComponent(arg)}` : ''}`;

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
