import React, { useCallback, useEffect, useMemo, useState } from 'react';
import type { AppRootProps } from '@grafana/data';
import { config, locationService } from '@grafana/runtime';
import { DataPlaneServiceClient, GRAFANA_API_BASE } from '../api/client';
import { EnvProvider, NavProvider, stripBase, type Env, type Nav } from '../context';
import { Routes } from './App';

export const PLUGIN_BASE = '/a/dataplane-aggregator-app';

/** A Nav over Grafana's locationService. */
function useGrafanaNav(): Nav {
  const [pathname, setPathname] = useState(() => locationService.getLocation().pathname);
  useEffect(() => {
    const unlisten = locationService.getHistory().listen(() => setPathname(locationService.getLocation().pathname));
    return () => {
      if (typeof unlisten === 'function') {
        unlisten();
      }
    };
  }, []);
  const appSubUrl = config.appSubUrl ?? '';
  const href = useCallback((to: string) => `${appSubUrl}${PLUGIN_BASE}${to === '/' ? '' : to}`, [appSubUrl]);
  const navigate = useCallback((to: string) => locationService.push(`${PLUGIN_BASE}${to === '/' ? '' : to}`), []);
  return useMemo(
    () => ({ path: stripBase(stripBase(pathname, appSubUrl), PLUGIN_BASE), navigate, href }),
    [pathname, appSubUrl, navigate, href]
  );
}

export function GrafanaApp(_props: AppRootProps) {
  const nav = useGrafanaNav();
  const env: Env = useMemo(
    () => ({
      client: new DataPlaneServiceClient({ base: GRAFANA_API_BASE }),
      chrome: 'grafana',
      // The backend also refuses writes from non-admins; this only hides the buttons.
      canWrite: config.bootData?.user?.orgRole === 'Admin' || !!config.bootData?.user?.isGrafanaAdmin,
    }),
    []
  );
  return (
    <EnvProvider value={env}>
      <NavProvider value={nav}>
        <Routes />
      </NavProvider>
    </EnvProvider>
  );
}
