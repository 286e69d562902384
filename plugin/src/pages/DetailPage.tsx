import React, { useCallback, useEffect, useState } from 'react';
import { css, cx } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { Alert, Button, ClipboardButton, LoadingPlaceholder, useStyles2 } from '@grafana/ui';
import { useEnv, useNav, servicePath } from '../context';
import type { DataPlaneService } from '../api/types';
import { ApiError, errorMessage } from '../api/errors';
import { age, concreteURLs } from '../api/urls';
import { toYAML } from '../api/yaml';
import { ConditionBadges } from '../components/ConditionBadges';
import { DeleteButton } from '../components/DeleteButton';
import { flash } from '../flash';
import { PageLayout } from '../components/PageLayout';
import { RequestConsole } from '../components/RequestConsole';
import { MetricsCell, useServiceMetrics } from '../components/ServiceMetrics';

export function DetailPage({ name, pollMs = 5000 }: { name: string; pollMs?: number }) {
  const { client, canWrite } = useEnv();
  const nav = useNav();
  const styles = useStyles2(getStyles);
  const [obj, setObj] = useState<DataPlaneService | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setObj(await client.get(name));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [client, name]);

  useEffect(() => {
    setObj(null);
    load();
    const t = setInterval(load, pollMs);
    return () => clearInterval(t);
  }, [load, pollMs]);

  const notFound = error instanceof ApiError && error.isNotFound;
  const actions =
    obj && canWrite ? (
      <>
        <Button icon="pen" variant="secondary" onClick={() => nav.navigate(servicePath(name, '/edit'))}>
          Edit
        </Button>
        <DeleteButton
          name={name}
          onDeleted={() => {
            flash(`Deleted ${name}`);
            nav.navigate('/');
          }}
          onError={setActionError}
        />
      </>
    ) : undefined;

  return (
    <PageLayout title={name} subTitle="DataPlaneService" actions={actions}>
      <div>
        <Button variant="secondary" fill="text" icon="arrow-left" onClick={() => nav.navigate('/')}>
          All services
        </Button>
      </div>
      {notFound && (
        <Alert title="Not found" severity="warning">
          DataPlaneService &quot;{name}&quot; does not exist (it may have been deleted).
        </Alert>
      )}
      {error !== null && !notFound && (
        <Alert title="Could not load the service" severity="error">
          <p>{errorMessage(error)}</p>
          <Button variant="secondary" icon="sync" onClick={() => load()}>
            Retry
          </Button>
        </Alert>
      )}
      {actionError && (
        <Alert title="Action failed" severity="error" onRemove={() => setActionError(null)}>
          {actionError}
        </Alert>
      )}
      {obj === null && error === null && <LoadingPlaceholder text="Loading…" />}
      {obj && (
        <>
          <section aria-labelledby="spec-h">
            <h2 id="spec-h" className={styles.h}>
              Spec
            </h2>
            <dl className={styles.dl}>
              <dt>Plugin ID</dt>
              <dd>{obj.spec.pluginID}</dd>
              <dt>Plugin type</dt>
              <dd>{obj.spec.pluginType}</dd>
              <dt>Group</dt>
              <dd className={styles.mono}>{obj.spec.group}</dd>
              <dt>Version</dt>
              <dd className={styles.mono}>{obj.spec.version}</dd>
              <dt>Conditions</dt>
              <dd>
                <ConditionBadges conditions={obj.status?.conditions} />
              </dd>
              <dt>Created</dt>
              <dd title={obj.metadata.creationTimestamp}>
                {obj.metadata.creationTimestamp ? `${age(obj.metadata.creationTimestamp)} ago` : '—'}
              </dd>
              <dt>Generation</dt>
              <dd>
                {obj.metadata.generation ?? '—'}
                {obj.status?.observedGeneration !== undefined && ` (observed ${obj.status.observedGeneration})`}
              </dd>
            </dl>
          </section>
          <ServicesSection obj={obj} />
          <section aria-labelledby="conditions-h">
            <h2 id="conditions-h" className={styles.h}>
              Conditions
            </h2>
            {obj.status?.conditions?.length ? (
              <table className={styles.table} aria-label="Conditions">
                <thead>
                  <tr>
                    <th scope="col">Type</th>
                    <th scope="col">Status</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Message</th>
                    <th scope="col">Last transition</th>
                  </tr>
                </thead>
                <tbody>
                  {obj.status.conditions.map((c) => (
                    <tr key={c.type}>
                      <td>{c.type}</td>
                      <td>{c.status}</td>
                      <td>{c.reason}</td>
                      <td className={styles.wrap}>{c.message}</td>
                      <td title={c.lastTransitionTime} className={styles.wrap}>
                        {c.lastTransitionTime ? `${age(c.lastTransitionTime)} ago (${c.lastTransitionTime})` : '—'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p className={styles.muted}>No conditions reported yet: the aggregator has not reconciled this object.</p>
            )}
          </section>
          <RequestConsole obj={obj} />
          <section aria-labelledby="yaml-h">
            <div className={styles.yamlHeader}>
              <h2 id="yaml-h" className={styles.h}>
                YAML
              </h2>
              <ClipboardButton variant="secondary" size="sm" icon="copy" getText={() => toYAML(obj)}>
                Copy
              </ClipboardButton>
            </div>
            <pre className={styles.pre} tabIndex={0} aria-label="Object as YAML">
              {toYAML(obj)}
            </pre>
          </section>
        </>
      )}
    </PageLayout>
  );
}

/**
 * The declared services with the URLs they are served at and, for those who may read dpa's
 * /metrics, each type's request rate, 5xx ratio and p95 latency. Narrow screens drop the
 * Method and Path columns (the Served at URLs carry both) and long text wraps.
 */
function ServicesSection({ obj }: { obj: DataPlaneService }) {
  const { client } = useEnv();
  const styles = useStyles2(getStyles);
  const metrics = useServiceMetrics(client, obj.spec.group, obj.spec.version);
  const showMetrics = metrics.state === 'ready' || metrics.state === 'sampling';
  const routes = obj.spec.services.filter((s) => s.type === 'route').length;
  return (
    <section aria-labelledby="services-h" className={styles.section}>
      <h2 id="services-h" className={styles.h}>
        Services
      </h2>
      {metrics.state === 'denied' && (
        <p className={styles.muted} data-testid="metrics-hint">
          Request rates and latencies come from dpa&apos;s /metrics, which needs a server admin (or group system:monitoring).
        </p>
      )}
      <table className={styles.servicesTable} aria-label="Services">
        <thead>
          <tr>
            <th scope="col" className={styles.colType}>
              Type
            </th>
            <th scope="col" className={cx(styles.colMethod, styles.wide)}>
              Method
            </th>
            <th scope="col" className={cx(styles.colPath, styles.wide)}>
              Path
            </th>
            <th scope="col">Served at</th>
            {showMetrics && (
              <th scope="col" className={styles.colMetrics} title="Requests per second, share answered 5xx and 95th percentile latency between the last two samples of /metrics">
                Traffic
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {obj.spec.services.map((s, i) => (
            <tr key={i}>
              <td className={styles.wrap}>{s.type}</td>
              <td className={styles.wide}>{s.type === 'route' ? s.method || 'any' : '—'}</td>
              <td className={cx(styles.mono, styles.wide, styles.ellipsis)} title={s.type === 'route' ? s.path : undefined}>
                {s.type === 'route' ? s.path : '—'}
              </td>
              <td>
                <ul className={styles.urls}>
                  {concreteURLs(obj, s).map((u) => (
                    <li key={u.method + u.path} className={cx(styles.mono, styles.wrap)} title={`${u.method} ${u.path}`}>
                      <span className={styles.method}>{u.method}</span> {u.path}
                    </li>
                  ))}
                </ul>
              </td>
              {showMetrics && (
                <td className={styles.wrap}>
                  <MetricsCell metrics={metrics} type={s.type} shared={s.type === 'route' && routes > 1} />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

const tableStyles = (theme: GrafanaTheme2) => ({
  width: '100%',
  borderCollapse: 'collapse' as const,
  'th, td': {
    padding: theme.spacing(1),
    borderBottom: `1px solid ${theme.colors.border.weak}`,
    textAlign: 'left' as const,
    verticalAlign: 'top' as const,
  },
  th: { color: theme.colors.text.secondary, fontWeight: theme.typography.fontWeightMedium },
  'tbody tr:hover': { background: theme.colors.action.hover },
});

const getStyles = (theme: GrafanaTheme2) => ({
  h: css({ fontSize: theme.typography.h4.fontSize, margin: theme.spacing(1, 0) }),
  dl: css({
    display: 'grid',
    gridTemplateColumns: 'max-content 1fr',
    gap: theme.spacing(0.5, 3),
    margin: 0,
    dt: { color: theme.colors.text.secondary },
    dd: { margin: 0, minWidth: 0, overflowWrap: 'anywhere' },
  }),
  table: css({ ...tableStyles(theme), 'td, th': { overflowWrap: 'anywhere' } }),
  servicesTable: css({ ...tableStyles(theme), tableLayout: 'fixed' }),
  section: css({ minWidth: 0 }),
  colType: css({ width: '11%' }),
  colMethod: css({ width: '7%' }),
  colPath: css({ width: '20%' }),
  colMetrics: css({ width: '17%' }),
  // Below 900 px the Method and Path columns go: the Served at URLs show both.
  wide: css({ '@media (max-width: 900px)': { display: 'none' } }),
  wrap: css({ overflowWrap: 'anywhere', minWidth: 0 }),
  ellipsis: css({ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }),
  mono: css({ fontFamily: theme.typography.fontFamilyMonospace, fontSize: theme.typography.bodySmall.fontSize }),
  method: css({ fontWeight: theme.typography.fontWeightBold, display: 'inline-block', minWidth: 56 }),
  urls: css({ listStyle: 'none', margin: 0, padding: 0 }),
  muted: css({ color: theme.colors.text.secondary }),
  yamlHeader: css({ display: 'flex', alignItems: 'center', justifyContent: 'space-between' }),
  pre: css({
    background: theme.colors.background.canvas,
    border: `1px solid ${theme.colors.border.weak}`,
    padding: theme.spacing(2),
    overflow: 'auto',
    fontSize: theme.typography.bodySmall.fontSize,
    maxHeight: 480,
  }),
});
