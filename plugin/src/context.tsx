import React, { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { DataPlaneServiceClient } from './api/client';

/** Routes, relative to the app's base: '/', '/new', '/services/:name', '/services/:name/edit'. */
export interface Nav {
  path: string;
  /** The query string without '?' (e.g. a list's filter state, so it can be shared and reloaded). */
  search: string;
  navigate(to: string): void;
  /** Replaces the query string of the current entry (no new history entry). */
  setSearch(search: string): void;
  href(to: string): string;
}

export interface Env {
  client: DataPlaneServiceClient;
  /** 'grafana' renders inside Grafana's page chrome (PluginPage); 'standalone' draws its own headings. */
  chrome: 'grafana' | 'standalone';
  /**
   * May the user write? Standalone: the server's SelfSubjectAccessReview answer; inside
   * Grafana: org Admin. The server decides every request in the end anyway.
   */
  canWrite: boolean;
}

const NavContext = createContext<Nav | null>(null);
const EnvContext = createContext<Env | null>(null);

export function useNav(): Nav {
  const n = useContext(NavContext);
  if (!n) {
    throw new Error('useNav outside NavProvider');
  }
  return n;
}

export function useEnv(): Env {
  const e = useContext(EnvContext);
  if (!e) {
    throw new Error('useEnv outside EnvProvider');
  }
  return e;
}

export const EnvProvider = EnvContext.Provider;

/**
 * useCanWrite asks the server (SelfSubjectAccessReview) whether the user may create, update
 * and delete DataPlaneServices. False until it answers, and when it cannot: write actions stay
 * hidden; the server checks every request anyway.
 */
export function useCanWrite(client: DataPlaneServiceClient): boolean {
  const [canWrite, setCanWrite] = useState(false);
  useEffect(() => {
    let live = true;
    Promise.all([client.canI('create'), client.canI('update'), client.canI('delete')])
      .then((answers) => live && setCanWrite(answers.every(Boolean)))
      .catch(() => live && setCanWrite(false));
    return () => {
      live = false;
    };
  }, [client]);
  return canWrite;
}
export const NavProvider = NavContext.Provider;

/** stripBase turns '/ui/services/x' into '/services/x' for base '/ui'. */
export function stripBase(pathname: string, base: string): string {
  const b = base.replace(/\/+$/, '');
  let p = pathname.startsWith(b) ? pathname.slice(b.length) : pathname;
  if (!p.startsWith('/')) {
    p = '/' + p;
  }
  return p;
}

/** A Nav over window.history (standalone host). */
export function useHistoryNav(base: string): Nav {
  const [pathname, setPathname] = useState(() => window.location.pathname);
  const [search, setSearchState] = useState(() => window.location.search.replace(/^\?/, ''));
  useEffect(() => {
    const onPop = () => {
      setPathname(window.location.pathname);
      setSearchState(window.location.search.replace(/^\?/, ''));
    };
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const href = useCallback((to: string) => base.replace(/\/+$/, '') + to, [base]);
  const navigate = useCallback(
    (to: string) => {
      window.history.pushState(null, '', href(to));
      setPathname(window.location.pathname);
      setSearchState(window.location.search.replace(/^\?/, ''));
      window.scrollTo?.(0, 0);
    },
    [href]
  );
  const setSearch = useCallback((s: string) => {
    window.history.replaceState(window.history.state, '', window.location.pathname + (s ? `?${s}` : ''));
    setSearchState(s);
  }, []);
  return useMemo(
    () => ({ path: stripBase(pathname, base), search, navigate, setSearch, href }),
    [pathname, search, base, navigate, setSearch, href]
  );
}

/** A Nav kept in memory (tests). */
export function useMemoryNav(initial = '/'): Nav {
  const [loc, setLoc] = useState(() => {
    const [p, q = ''] = initial.split('?');
    return { path: p, search: q };
  });
  return useMemo(
    () => ({
      path: loc.path,
      search: loc.search,
      navigate: (to: string) => {
        const [p, q = ''] = to.split('?');
        setLoc({ path: p, search: q });
      },
      setSearch: (search: string) => setLoc((l) => ({ ...l, search })),
      href: (to: string) => to,
    }),
    [loc]
  );
}

/** matchRoute returns params for a pattern like '/services/:name/edit'. */
export function matchRoute(pattern: string, path: string): Record<string, string> | null {
  const pp = pattern.split('/').filter(Boolean);
  const sp = path.split('/').filter(Boolean);
  if (pp.length !== sp.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < pp.length; i++) {
    if (pp[i].startsWith(':')) {
      params[pp[i].slice(1)] = decodeURIComponent(sp[i]);
    } else if (pp[i] !== sp[i]) {
      return null;
    }
  }
  return params;
}

export function servicePath(name: string, suffix = ''): string {
  return `/services/${encodeURIComponent(name)}${suffix}`;
}
