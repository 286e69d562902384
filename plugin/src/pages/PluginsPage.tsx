import React, { useCallback, useEffect, useState } from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { Alert, Badge, Button, EmptyState, LoadingPlaceholder, useStyles2, type BadgeColor } from '@grafana/ui';
import { useEnv, useNav } from '../context';
import { errorMessage } from '../api/errors';
import { summarize, type InstalledPlugin } from '../api/plugins';
import { age } from '../api/urls';
import { PageLayout } from '../components/PageLayout';
import { getTableStyles } from './ListPage';

/** Green only when every replica serves; a hung process counts as not serving. */
function phaseColor(serving: number, replicas: number, phase: string): BadgeColor {
  if (replicas > 0 && serving === replicas) {
    return 'green';
  }
  if (phase === 'Idle') {
    return 'darkgrey';
  }
  return serving > 0 ? 'orange' : 'red';
}

/**
 * The installed plugins, as dpa's read-only Plugin resource reports them — the same objects
 * `kubectl get plugins.aggregation.grafana.app` lists.
 */
export function PluginsPage({ pollMs = 5000 }: { pollMs?: number }) {
  const { client } = useEnv();
  const nav = useNav();
  const styles = useStyles2(getStyles);
  const [plugins, setPlugins] = useState<InstalledPlugin[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setPlugins(await client.listPlugins());
      setError(null);
    } catch (e) {
      setError(errorMessage(e));
    }
  }, [client]);
  useEffect(() => {
    load();
    const t = setInterval(load, pollMs);
    return () => clearInterval(t);
  }, [load, pollMs]);

  return (
    <PageLayout
      title="Installed plugins"
      subTitle="The plugins dpa found, per replica (read-only: dpa writes them from its plugin host)"
      actions={
        <Button variant="secondary" icon="arrow-left" onClick={() => nav.navigate('/')}>
          Services
        </Button>
      }
    >
      {error && (
        <Alert title="Could not load the installed plugins" severity="error">
          {error}
        </Alert>
      )}
      {plugins === null && !error && <LoadingPlaceholder text="Loading plugins…" />}
      {plugins !== null && plugins.length === 0 && (
        <EmptyState variant="not-found" message="No plugins installed">
          dpa serves the plugins it finds in --plugins-dir and at --plugin-address.
        </EmptyState>
      )}
      {plugins !== null && plugins.length > 0 && (
        <table className={styles.table} aria-label="Installed plugins">
          <thead>
            <tr>
              <th scope="col">Plugin</th>
              <th scope="col">Type</th>
              <th scope="col">Version</th>
              <th scope="col">Running</th>
              <th scope="col">Restarts</th>
              <th scope="col" className={styles.narrowHidden}>
                gRPC services
              </th>
              <th scope="col">Last error</th>
              <th scope="col" className={styles.narrowHidden}>
                Age
              </th>
            </tr>
          </thead>
          <tbody>
            {plugins.map((p) => {
              const s = summarize(p);
              return (
                <tr key={p.metadata.name} data-testid={`plugin-${p.metadata.name}`}>
                  <td className={styles.wrap}>
                    <div>{p.spec.name}</div>
                    <code className={styles.id}>{p.spec.id}</code>
                  </td>
                  <td>{p.spec.type}</td>
                  <td>{p.spec.version}</td>
                  <td data-testid="plugin-running">
                    <Badge
                      color={phaseColor(s.serving, s.replicas, s.phase)}
                      text={`${s.phase} · ${s.serving}/${s.replicas}`}
                      icon={s.serving === s.replicas && s.replicas > 0 ? 'check' : 'exclamation-triangle'}
                      tooltip={`${s.serving} of ${s.replicas} replicas serve calls`}
                    />
                  </td>
                  <td data-testid="plugin-restarts">{s.restarts}</td>
                  <td className={`${styles.narrowHidden} ${styles.wrap}`}>
                    {s.services?.map((x) => x.replace(/^pluginv2\./, '')).join(', ') ?? '—'}
                  </td>
                  <td className={styles.wrap} data-testid="plugin-error">
                    {s.notResponding && <div data-testid="plugin-not-responding">Not responding: {s.notResponding}</div>}
                    {s.lastError && <div>{s.lastError}</div>}
                  </td>
                  <td className={styles.narrowHidden} title={p.metadata.creationTimestamp}>
                    {age(p.metadata.creationTimestamp)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </PageLayout>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  table: getTableStyles(theme),
  id: css({ fontSize: theme.typography.bodySmall.fontSize, color: theme.colors.text.secondary }),
  wrap: css({ overflowWrap: 'anywhere' }),
  narrowHidden: css({ '@media (max-width: 1100px)': { display: 'none' } }),
});
