import { UI_BASE } from './publicPath';
import React, { useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { css } from '@emotion/css';
import { createTheme, type GrafanaTheme2 } from '@grafana/data';
import { setBackendSrv } from '@grafana/runtime';
import { Button, GlobalStyles, ThemeContext, useStyles2 } from '@grafana/ui';
import { DataPlaneServiceClient } from '../api/client';
import { EnvProvider, NavProvider, useCanWrite, useHistoryNav, type Env } from '../context';
import { Routes } from '../components/App';
import { AppLink } from '../components/Link';
import { SkipLinkHost } from '../components/SkipLinks';
import { ThemeToggle, type Mode } from './ThemeToggle';
import { createFetchBackendSrv, fetchStream } from './backendSrv';

const THEME_KEY = 'dpa.theme';

function initialMode(): Mode {
  const q = new URLSearchParams(window.location.search).get('theme');
  if (q === 'light' || q === 'dark') {
    return q;
  }
  const saved = window.localStorage?.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') {
    return saved;
  }
  return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

function redirectToLogin() {
  const next = window.location.pathname + window.location.search;
  window.location.assign(`${UI_BASE}/login?next=${encodeURIComponent(next)}`);
}

setBackendSrv(createFetchBackendSrv({ onUnauthorized: redirectToLogin }));

function Header({ mode, onToggle }: { mode: Mode; onToggle: () => void }) {
  const styles = useStyles2(getStyles);
  return (
    <header className={styles.header}>
      <AppLink to="/" className={styles.brand}>
        <img src={`${UI_BASE}/build/img/logo.svg`} alt="" width={24} height={24} />
        <span>Data Plane Aggregator</span>
      </AppLink>
      <nav className={styles.right} aria-label="Session">
        <ThemeToggle mode={mode} onToggle={onToggle} />
        <form method="post" action={`${UI_BASE}/logout`} className={styles.logout}>
          <Button type="submit" variant="secondary" fill="text" icon="signout">
            Sign out
          </Button>
        </form>
      </nav>
    </header>
  );
}

function Root() {
  const [mode, setMode] = useState<Mode>(initialMode);
  // The system's fonts: Grafana's Inter and Roboto Mono files live in Grafana's public folder,
  // not in @grafana/ui, so standalone they would only be 404s.
  const theme = useMemo(
    () =>
      createTheme({
        colors: { mode },
        typography: {
          fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
          fontFamilyMonospace: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
        },
      }),
    [mode]
  );
  const nav = useHistoryNav(UI_BASE);
  const client = useMemo(() => new DataPlaneServiceClient({ base: '', stream: fetchStream({ onUnauthorized: redirectToLogin }) }), []);
  const canWrite = useCanWrite(client);
  const env: Env = useMemo(() => ({ client, chrome: 'standalone', canWrite }), [client, canWrite]);
  useEffect(() => {
    // The browser's default 8 px body margin would add a horizontal scrollbar to every page.
    document.body.style.margin = '0';
  }, []);
  useEffect(() => {
    document.documentElement.dataset.theme = mode;
    document.body.classList.toggle('theme-dark', mode === 'dark');
    document.body.classList.toggle('theme-light', mode === 'light');
  }, [mode]);
  useEffect(() => {
    // Lets tests and embedders switch the theme without clicking (e.g. while a modal is open).
    const onSet = (e: Event) => {
      const m = (e as CustomEvent<string>).detail;
      if (m === 'light' || m === 'dark') {
        setMode(m);
      }
    };
    window.addEventListener('dpa:set-theme', onSet);
    return () => window.removeEventListener('dpa:set-theme', onSet);
  }, []);
  const toggle = () => {
    const next = mode === 'dark' ? 'light' : 'dark';
    window.localStorage?.setItem(THEME_KEY, next);
    setMode(next);
  };
  return (
    <ThemeContext.Provider value={theme}>
      <GlobalStyles />
      <EnvProvider value={env}>
        <NavProvider value={nav}>
          <SkipLinkHost>
            <Header mode={mode} onToggle={toggle} />
            <Routes />
          </SkipLinkHost>
        </NavProvider>
      </EnvProvider>
    </ThemeContext.Provider>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  header: css({
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'space-between',
    padding: theme.spacing(1, 3),
    background: theme.colors.background.primary,
    borderBottom: `1px solid ${theme.colors.border.weak}`,
  }),
  brand: css({
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(1),
    fontSize: theme.typography.h4.fontSize,
    color: theme.colors.text.primary,
  }),
  right: css({ display: 'flex', alignItems: 'center', gap: theme.spacing(2) }),
  logout: css({ margin: 0 }),
});

createRoot(document.getElementById('root')!).render(<Root />);
