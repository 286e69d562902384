import React, { useCallback, useEffect, useState } from 'react';
import { css } from '@emotion/css';
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
import { getTableStyles } from './ListPage';

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
          <section aria-labelledby="services-h">
            <h2 id="services-h" className={styles.h}>
              Services
            </h2>
            <table className={styles.table} aria-label="Services">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Method</th>
                  <th scope="col">Path</th>
                  <th scope="col">Served at</th>
                </tr>
              </thead>
              <tbody>
                {obj.spec.services.map((s, i) => (
                  <tr key={i}>
                    <td>{s.type}</td>
                    <td>{s.type === 'route' ? s.method || 'any' : '—'}</td>
                    <td className={styles.mono}>{s.type === 'route' ? s.path : '—'}</td>
                    <td>
                      <ul className={styles.urls}>
                        {concreteURLs(obj, s).map((u) => (
                          <li key={u.method + u.path} className={styles.mono}>
                            <span className={styles.method}>{u.method}</span> {u.path}
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
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
                      <td>{c.message}</td>
                      <td title={c.lastTransitionTime}>
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

const getStyles = (theme: GrafanaTheme2) => ({
  h: css({ fontSize: theme.typography.h4.fontSize, margin: theme.spacing(1, 0) }),
  dl: css({
    display: 'grid',
    gridTemplateColumns: 'max-content 1fr',
    gap: theme.spacing(0.5, 3),
    margin: 0,
    dt: { color: theme.colors.text.secondary },
    dd: { margin: 0 },
  }),
  table: getTableStyles(theme),
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
