import React, { useCallback, useEffect, useMemo, useState } from 'react';
import type { AppRootProps } from '@grafana/data';
import { config, locationService } from '@grafana/runtime';
import { DataPlaneServiceClient, GRAFANA_API_BASE } from '../api/client';
import { EnvProvider, NavProvider, stripBase, useCanWrite, type Env, type Nav } from '../context';
import { Routes } from './App';

export const PLUGIN_BASE = '/a/dataplane-aggregator-app';

/** A Nav over Grafana's locationService. */
function useGrafanaNav(): Nav {
  const [pathname, setPathname] = useState(() => locationService.getLocation().pathname);
  const [search, setSearchState] = useState(() => locationService.getLocation().search.replace(/^\?/, ''));
  useEffect(() => {
    const unlisten = locationService.getHistory().listen(() => {
      setPathname(locationService.getLocation().pathname);
      setSearchState(locationService.getLocation().search.replace(/^\?/, ''));
    });
    return () => {
      if (typeof unlisten === 'function') {
        unlisten();
      }
    };
  }, []);
  const appSubUrl = config.appSubUrl ?? '';
  const href = useCallback((to: string) => `${appSubUrl}${PLUGIN_BASE}${to === '/' ? '' : to}`, [appSubUrl]);
  const navigate = useCallback((to: string) => locationService.push(`${PLUGIN_BASE}${to === '/' ? '' : to}`), []);
  const setSearch = useCallback(
    (s: string) => locationService.replace(`${locationService.getLocation().pathname}${s ? `?${s}` : ''}`),
    []
  );
  return useMemo(
    () => ({ path: stripBase(stripBase(pathname, appSubUrl), PLUGIN_BASE), search, navigate, setSearch, href }),
    [pathname, search, appSubUrl, navigate, setSearch, href]
  );
}

export function GrafanaApp(_props: AppRootProps) {
  const nav = useGrafanaNav();
  const client = useMemo(() => new DataPlaneServiceClient({ base: GRAFANA_API_BASE }), []);
  // The backend acts as the Grafana user, so dpa's answer is about this user.
  const canWrite = useCanWrite(client);
  const env: Env = useMemo(() => ({ client, chrome: 'grafana', canWrite }), [client, canWrite]);
  return (
    <EnvProvider value={env}>
      <NavProvider value={nav}>
        <Routes />
      </NavProvider>
    </EnvProvider>
  );
}
