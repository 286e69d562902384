import React, { useEffect, useMemo, useState } from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import {
  Alert,
  Button,
  EmptyState,
  FilterInput,
  IconButton,
  LoadingPlaceholder,
  RadioButtonGroup,
  useStyles2,
} from '@grafana/ui';
import { useEnv, useNav, servicePath } from '../context';
import type { DataPlaneService } from '../api/types';
import { errorMessage } from '../api/errors';
import { age } from '../api/urls';
import { ConditionBadges } from '../components/ConditionBadges';
import { DeleteButton } from '../components/DeleteButton';
import { flash } from '../flash';
import { AppLink } from '../components/Link';
import { PageLayout } from '../components/PageLayout';

const TYPE_OPTIONS = [
  { label: 'All', value: '' },
  { label: 'App', value: 'app' },
  { label: 'Data source', value: 'datasource' },
];

export function matchesFilter(o: DataPlaneService, text: string, pluginType: string): boolean {
  if (pluginType && o.spec.pluginType !== pluginType) {
    return false;
  }
  const q = text.trim().toLowerCase();
  if (!q) {
    return true;
  }
  return [o.metadata.name, o.spec.pluginID, o.spec.group, o.spec.version, `${o.spec.group}/${o.spec.version}`].some((f) =>
    (f ?? '').toLowerCase().includes(q)
  );
}

export function ListPage({ pollMs = 5000 }: { pollMs?: number }) {
  const { client, canWrite } = useEnv();
  const nav = useNav();
  const styles = useStyles2(getStyles);
  const [items, setItems] = useState<DataPlaneService[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [pluginType, setPluginType] = useState('');
  const [refresh, setRefresh] = useState(0);

  useEffect(() => {
    const w = client.poll(
      (l) => {
        setItems([...l.items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)));
        setLoadError(null);
      },
      (e) => setLoadError(errorMessage(e)),
      pollMs
    );
    return () => w.stop();
  }, [client, pollMs, refresh]);

  const visible = useMemo(() => (items ?? []).filter((o) => matchesFilter(o, text, pluginType)), [items, text, pluginType]);

  const createButton = canWrite ? (
    <Button icon="plus" onClick={() => nav.navigate('/new')}>
      New service
    </Button>
  ) : undefined;

  return (
    <PageLayout title="Data plane services" subTitle="Plugins whose routes the aggregator serves" actions={createButton}>
      {loadError && (
        <Alert title="Could not load data plane services" severity="error">
          <p>{loadError}</p>
          <Button variant="secondary" icon="sync" onClick={() => setRefresh((r) => r + 1)}>
            Retry
          </Button>
        </Alert>
      )}
      {actionError && (
        <Alert title="Action failed" severity="error" onRemove={() => setActionError(null)}>
          {actionError}
        </Alert>
      )}
      {items === null && !loadError && <LoadingPlaceholder text="Loading data plane services…" />}
      {items !== null && items.length === 0 && (
        <EmptyState
          variant="call-to-action"
          message="No data plane services yet"
          button={
            canWrite ? (
              <Button icon="plus" size="lg" onClick={() => nav.navigate('/new')}>
                Create data plane service
              </Button>
            ) : undefined
          }
        >
          A DataPlaneService registers a backend plugin&apos;s queries, resources and routes under /apis/&lt;group&gt;/&lt;version&gt;.
        </EmptyState>
      )}
      {items !== null && items.length > 0 && (
        <>
          <div className={styles.filters}>
            <div className={styles.search}>
              <FilterInput
                placeholder="Filter by name, plugin, group or version"
                value={text}
                escapeRegex={false}
                onChange={setText}
              />
            </div>
            <div role="group" aria-label="Plugin type">
              <RadioButtonGroup options={TYPE_OPTIONS} value={pluginType} onChange={(v) => setPluginType(v ?? '')} />
            </div>
          </div>
          {visible.length === 0 ? (
            <EmptyState variant="not-found" message="No data plane services match the filter" />
          ) : (
            <table className={styles.table} aria-label="Data plane services">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Plugin</th>
                  <th scope="col">Type</th>
                  <th scope="col">Group/Version</th>
                  <th scope="col">Conditions</th>
                  <th scope="col">Age</th>
                  <th scope="col">
                    <span className={styles.srOnly}>Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {visible.map((o) => (
                  <tr key={o.metadata.name} data-testid={`row-${o.metadata.name}`}>
                    <td>
                      <AppLink to={servicePath(o.metadata.name)}>{o.metadata.name}</AppLink>
                    </td>
                    <td>{o.spec.pluginID}</td>
                    <td>{o.spec.pluginType}</td>
                    <td className={styles.mono}>
                      {o.spec.group}/{o.spec.version}
                    </td>
                    <td>
                      <ConditionBadges conditions={o.status?.conditions} />
                    </td>
                    <td title={o.metadata.creationTimestamp}>{age(o.metadata.creationTimestamp)}</td>
                    <td className={styles.actionsCell}>
                      <div className={styles.actions}>
                      {canWrite && (
                        <IconButton
                          name="pen"
                          tooltip={`Edit ${o.metadata.name}`}
                          aria-label={`Edit ${o.metadata.name}`}
                          onClick={() => nav.navigate(servicePath(o.metadata.name, '/edit'))}
                        />
                      )}
                      <DeleteButton
                        variant="icon"
                        name={o.metadata.name}
                        onDeleted={() => {
                          flash(`Deleted ${o.metadata.name}`);
                          setItems((cur) => (cur ?? []).filter((x) => x.metadata.name !== o.metadata.name));
                          setRefresh((r) => r + 1);
                        }}
                        onError={setActionError}
                      />
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </PageLayout>
  );
}

export const getTableStyles = (theme: GrafanaTheme2) =>
  css({
    width: '100%',
    borderCollapse: 'collapse',
    'th, td': {
      padding: theme.spacing(1),
      borderBottom: `1px solid ${theme.colors.border.weak}`,
      textAlign: 'left',
      verticalAlign: 'middle',
    },
    th: { color: theme.colors.text.secondary, fontWeight: theme.typography.fontWeightMedium },
    'tbody tr:hover': { background: theme.colors.action.hover },
  });

const getStyles = (theme: GrafanaTheme2) => ({
  filters: css({ display: 'flex', gap: theme.spacing(2), alignItems: 'center', flexWrap: 'wrap' }),
  search: css({ flex: '1 1 320px', maxWidth: 520 }),
  table: getTableStyles(theme),
  mono: css({ fontFamily: theme.typography.fontFamilyMonospace }),
  actionsCell: css({ width: 1, whiteSpace: 'nowrap' }),
  actions: css({ display: 'flex', gap: theme.spacing(1), justifyContent: 'flex-end' }),
  srOnly: css({
    position: 'absolute',
    width: 1,
    height: 1,
    overflow: 'hidden',
    clip: 'rect(0 0 0 0)',
    whiteSpace: 'nowrap',
  }),
});
