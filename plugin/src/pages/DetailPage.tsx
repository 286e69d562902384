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
import { ScrollX } from '../components/ScrollX';
import { MessageText, UrlText } from '../components/UrlText';

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
              <ScrollX label="Conditions">
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
                        <td className={styles.nowrap}>{c.type}</td>
                        <td className={styles.nowrap}>{c.status}</td>
                        <td className={styles.nowrap}>{c.reason}</td>
                        <td className={styles.message}>{c.message ? <MessageText text={c.message} /> : null}</td>
                        <td title={c.lastTransitionTime}>
                          {c.lastTransitionTime ? (
                            <>
                              <span className={styles.nowrap}>{age(c.lastTransitionTime)} ago</span>{' '}
                              <span className={styles.nowrap}>({c.lastTransitionTime})</span>
                            </>
                          ) : (
                            '—'
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </ScrollX>
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
 * Method and Path columns (the Served at URLs carry both). Words never break: URLs and route
 * paths wrap after a "/" only (shown in full, never cut with "…"), and a table too wide for
 * the page scrolls inside itself.
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
      <ScrollX label="Services">
        <table className={styles.servicesTable} aria-label="Services">
          <thead>
            <tr>
              <th scope="col">
                Type
              </th>
              <th scope="col" className={styles.wide}>
                Method
              </th>
              <th scope="col" className={styles.wide}>
                Path
              </th>
              <th scope="col">Served at</th>
              {showMetrics && (
                <th scope="col" title="Requests per second, share answered 5xx and 95th percentile latency between the last two samples of /metrics">
                  Traffic
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {obj.spec.services.map((s, i) => (
              <tr key={i}>
                <td className={styles.nowrap}>{s.type}</td>
                <td className={cx(styles.wide, styles.nowrap)}>{s.type === 'route' ? s.method || 'any' : '—'}</td>
                <td className={cx(styles.mono, styles.wide)}>{s.type === 'route' && s.path ? <UrlText text={s.path} /> : '—'}</td>
                <td>
                  <ul className={styles.urls}>
                    {concreteURLs(obj, s).map((u) => (
                      <li key={u.method + u.path} className={styles.mono}>
                        <span className={styles.method}>{u.method}</span> <UrlText text={u.path} />
                      </li>
                    ))}
                  </ul>
                </td>
                {showMetrics && (
                  <td>
                    <MetricsCell metrics={metrics} type={s.type} shared={s.type === 'route' && routes > 1} />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollX>
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
    // A word breaks only when it cannot fit a line on its own (a 253-character group).
    dd: { margin: 0, minWidth: 0, overflowWrap: 'break-word' },
  }),
  table: css(tableStyles(theme)),
  servicesTable: css(tableStyles(theme)),
  section: css({ minWidth: 0 }),
  // Below 900 px the Method and Path columns go: the Served at URLs show both.
  wide: css({ '@media (max-width: 900px)': { display: 'none' } }),
  nowrap: css({ whiteSpace: 'nowrap' }),
  // Prose wraps between words; a single word longer than the column widens the table.
  message: css({ minWidth: '16ch' }),
  mono: css({ fontFamily: theme.typography.fontFamilyMonospace, fontSize: theme.typography.bodySmall.fontSize }),
  method: css({ fontWeight: theme.typography.fontWeightBold, display: 'inline-block', minWidth: 56, whiteSpace: 'nowrap' }),
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
    // Grafana's global styles wrap <pre> anywhere (word-break: break-all): YAML lines stay
    // whole and the box scrolls.
    whiteSpace: 'pre',
    wordBreak: 'normal',
    overflowWrap: 'normal',
  }),
});
