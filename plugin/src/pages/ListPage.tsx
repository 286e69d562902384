import React, { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { css, cx } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import {
  Alert,
  Badge,
  Button,
  EmptyState,
  FilterInput,
  FilterPill,
  Icon,
  IconButton,
  LoadingPlaceholder,
  Pagination,
  RadioButtonGroup,
  Tooltip,
  useStyles2,
  type BadgeColor,
} from '@grafana/ui';
import { useEnv, useNav, servicePath } from '../context';
import type { DataPlaneService } from '../api/types';
import type { Loading } from '../api/listwatch';
import { errorMessage } from '../api/errors';
import { age } from '../api/urls';
import { PAGE_SIZE, fleetView, formatQuery, parseQuery, readiness, type FleetQuery, type ReadyState, type SortKey } from '../api/fleet';
import { DeleteButton } from '../components/DeleteButton';
import { flash } from '../flash';
import { AppLink } from '../components/Link';
import { PageLayout } from '../components/PageLayout';

/** Targets of the list's skip links (the table, ~190 Tab presses above the pager at 50 rows). */
const TABLE_ID = 'dpa-services-table';
const PAGER_ID = 'dpa-services-pager';

const TYPE_OPTIONS = [
  { label: 'All', value: '' },
  { label: 'App', value: 'app' },
  { label: 'Data source', value: 'datasource' },
];

const STATE_LABEL: Record<ReadyState, string> = { Ready: 'Ready', NotReady: 'Not ready', Pending: 'Pending' };
const STATE_COLOR: Record<ReadyState, BadgeColor> = { Ready: 'green', NotReady: 'red', Pending: 'darkgrey' };
const STATE_ICON = { Ready: 'check', NotReady: 'exclamation-triangle', Pending: 'clock-nine' } as const;
/** How many reasons get a quick filter pill (the rest are reachable through the text filter). */
const MAX_REASON_PILLS = 8;

const COLUMNS: Array<{ key: SortKey; label: string; narrowHidden?: boolean }> = [
  { key: 'name', label: 'Name' },
  { key: 'plugin', label: 'Plugin' },
  { key: 'type', label: 'Type', narrowHidden: true },
  { key: 'group', label: 'Group/Version' },
  { key: 'ready', label: 'Ready' },
  { key: 'age', label: 'Age', narrowHidden: true },
];

/** The Ready cell: one badge, and for a service that is not ready, the reason inline (the message in a tooltip). */
export function ReadyCell({ o }: { o: DataPlaneService }) {
  const r = readiness(o);
  const badge = (
    <span className="dpa-ready" data-testid="ready" data-state={r.state}>
      <Badge text={STATE_LABEL[r.state]} color={STATE_COLOR[r.state]} icon={STATE_ICON[r.state]} />
      {r.reason && (
        <span data-testid="ready-reason" style={{ marginLeft: 4, fontSize: '0.85em' }}>
          {r.reason}
        </span>
      )}
    </span>
  );
  if (r.state !== 'NotReady') {
    return badge;
  }
  const summary = `${r.condition}: ${r.reason}${r.message ? ` — ${r.message}` : ''}`;
  return (
    <Tooltip content={summary} placement="top">
      <span tabIndex={0} role="img" aria-label={`Not ready — ${summary}`}>
        {badge}
      </span>
    </Tooltip>
  );
}

interface RowProps {
  o: DataPlaneService;
  canWrite: boolean;
  onDeleted: (name: string) => void;
  onError: (msg: string) => void;
}

/** One row; memoized on the object, so a watch event redraws only the row it changed. */
const Row = React.memo(function Row({ o, canWrite, onDeleted, onError }: RowProps) {
  const nav = useNav();
  const styles = useStyles2(getStyles);
  const name = o.metadata.name;
  return (
    <tr data-testid={`row-${name}`}>
      <td className={styles.wrap}>
        <AppLink to={servicePath(name)}>{name}</AppLink>
      </td>
      <td className={styles.wrap}>{o.spec.pluginID}</td>
      <td className={styles.narrowHidden}>{o.spec.pluginType}</td>
      <td className={cx(styles.mono, styles.wrap)}>
        {o.spec.group}/{o.spec.version}
      </td>
      <td>
        <ReadyCell o={o} />
      </td>
      <td className={styles.narrowHidden} title={o.metadata.creationTimestamp}>
        {age(o.metadata.creationTimestamp)}
      </td>
      <td className={styles.actionsCell}>
        <div className={styles.actions}>
          {canWrite && (
            <IconButton
              name="pen"
              tooltip={`Edit ${name}`}
              aria-label={`Edit ${name}`}
              onClick={() => nav.navigate(servicePath(name, '/edit'))}
            />
          )}
          <DeleteButton variant="icon" name={name} onDeleted={() => onDeleted(name)} onError={onError} />
        </div>
      </td>
    </tr>
  );
});

export function ListPage({ pollMs = 5000 }: { pollMs?: number }) {
  const { client, canWrite } = useEnv();
  const nav = useNav();
  const styles = useStyles2(getStyles);
  const [items, setItems] = useState<DataPlaneService[] | null>(null);
  // While the first list's pages arrive: how far it is (the rows shown are the loaded ones).
  const [loading, setLoading] = useState<Loading | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [restart, setRestart] = useState(0);
  const f = useMemo(() => parseQuery(nav.search), [nav.search]);
  const tableRef = useRef<HTMLTableElement>(null);

  useEffect(() => {
    const w = client.listWatch(
      (all, progress) => {
        setItems(all);
        setLoading(progress);
      },
      (e) => setLoadError(e === null ? null : errorMessage(e)),
      // 10,000 services: the first 500 are shown at once, the rest as they arrive.
      { pollMs, progressive: true }
    );
    return () => w.stop();
  }, [client, pollMs, restart]);

  const update = useCallback(
    (patch: Partial<FleetQuery>) => nav.setSearch(formatQuery({ ...f, page: 1, ...patch })),
    [nav, f]
  );
  const view = useMemo(() => fleetView(items ?? [], f), [items, f]);
  const onDeleted = useCallback((name: string) => {
    flash(`Deleted ${name}`);
    setItems((cur) => (cur ?? []).filter((x) => x.metadata.name !== name));
  }, []);

  const createButton = (
    <>
      <Button variant="secondary" icon="plug" onClick={() => nav.navigate('/plugins')}>
        Installed plugins
      </Button>
      {canWrite && (
        <Button icon="plus" onClick={() => nav.navigate('/new')}>
          New service
        </Button>
      )}
    </>
  );
  const total = view.byState.Ready + view.byState.NotReady + view.byState.Pending;
  const stateOptions = [
    { label: `All ${total}`, value: '' },
    ...(['Ready', 'NotReady', 'Pending'] as ReadyState[]).map((s) => ({ label: `${STATE_LABEL[s]} ${view.byState[s]}`, value: s })),
  ];
  const first = (view.page - 1) * PAGE_SIZE + 1;
  const skipLinks =
    items !== null && view.matched > 0
      ? [{ label: 'Skip to table', target: TABLE_ID }, ...(view.pages > 1 ? [{ label: 'Skip to pager', target: PAGER_ID }] : [])]
      : [];

  return (
    <PageLayout title="Data plane services" subTitle="Plugins whose routes the aggregator serves" actions={createButton} skipLinks={skipLinks}>
      {loadError && (
        <Alert title="Could not load data plane services" severity="error">
          <p>{loadError}</p>
          <Button variant="secondary" icon="sync" onClick={() => setRestart((r) => r + 1)}>
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
      {loading && (
        <Alert title={`Loading data plane services: ${loading.loaded} of ${loading.total ?? 'more'}`} severity="info" data-testid="list-loading">
          Counts, filters and the order cover the services loaded so far until all have arrived.
        </Alert>
      )}
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
                placeholder="Filter by name, plugin, group, version or reason"
                value={f.q}
                escapeRegex={false}
                onChange={(q) => update({ q })}
              />
            </div>
            <div role="group" aria-label="Plugin type">
              <RadioButtonGroup options={TYPE_OPTIONS} value={f.type} onChange={(v) => update({ type: (v ?? '') as FleetQuery['type'] })} />
            </div>
            <div role="group" aria-label="Readiness" data-testid="state-filter">
              <RadioButtonGroup
                options={stateOptions}
                value={f.status}
                onChange={(v) => update({ status: (v ?? '') as FleetQuery['status'], reason: '' })}
              />
            </div>
          </div>
          {view.byReason.length > 0 && (
            <div className={styles.reasons} role="group" aria-label="Not ready because" data-testid="reason-filter">
              <span className={styles.reasonsLabel}>Not ready because:</span>
              {view.byReason.slice(0, MAX_REASON_PILLS).map(({ reason, count }) => (
                <FilterPill
                  key={reason}
                  label={`${count} ${reason}`}
                  selected={f.reason === reason}
                  onClick={() => update({ reason: f.reason === reason ? '' : reason, status: '' })}
                />
              ))}
            </div>
          )}
          {view.matched === 0 ? (
            <EmptyState variant="not-found" message="No data plane services match the filter" />
          ) : (
            <>
              <p className={styles.count} data-testid="list-count">
                {view.matched === items.length
                  ? `${items.length} services`
                  : `${view.matched} of ${items.length} services match`}
                {view.pages > 1 && ` · showing ${first}–${first + view.rows.length - 1}`}
              </p>
              <table className={styles.table} aria-label="Data plane services" ref={tableRef} id={TABLE_ID} tabIndex={-1}>
                <thead>
                  <tr>
                    {COLUMNS.map((c) => {
                      const active = f.sort === c.key;
                      return (
                        <th
                          key={c.key}
                          scope="col"
                          className={c.narrowHidden ? styles.narrowHidden : undefined}
                          aria-sort={active ? (f.desc ? 'descending' : 'ascending') : undefined}
                        >
                          <button
                            type="button"
                            className={styles.sortButton}
                            onClick={() => update({ sort: c.key, desc: active ? !f.desc : false, page: view.page })}
                          >
                            {c.label}
                            <Icon name={active ? (f.desc ? 'arrow-down' : 'arrow-up') : 'sort-amount-down'} size="sm" className={active ? undefined : styles.sortIdle} />
                            <span className={styles.srOnly}>, sort</span>
                          </button>
                        </th>
                      );
                    })}
                    <th scope="col">
                      <span className={styles.srOnly}>Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {view.rows.map((o) => (
                    <Row key={o.metadata.name} o={o} canWrite={canWrite} onDeleted={onDeleted} onError={setActionError} />
                  ))}
                </tbody>
              </table>
              {view.pages > 1 && (
                <nav aria-label="Pages" id={PAGER_ID} tabIndex={-1} className={styles.pager}>
                  <Pagination
                    className={styles.pagination}
                    currentPage={view.page}
                    numberOfPages={view.pages}
                    hideWhenSinglePage
                    onNavigate={(page) => {
                      update({ page });
                      tableRef.current?.scrollIntoView?.({ block: 'start' });
                    }}
                  />
                </nav>
              )}
            </>
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

/** Below this width the Type and Age columns give way, so Ready and the actions stay on screen. */
const NARROW = '@media (max-width: 1100px)';

const getStyles = (theme: GrafanaTheme2) => ({
  filters: css({ display: 'flex', gap: theme.spacing(2), alignItems: 'center', flexWrap: 'wrap' }),
  reasons: css({ display: 'flex', gap: theme.spacing(1), alignItems: 'center', flexWrap: 'wrap', marginTop: theme.spacing(1) }),
  reasonsLabel: css({ color: theme.colors.text.secondary }),
  count: css({ color: theme.colors.text.secondary, margin: theme.spacing(2, 0, 0) }),
  pagination: css({ marginTop: theme.spacing(2), justifyContent: 'center' }),
  pager: css({ '&:focus': { outline: 'none' }, '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` } }),
  narrowHidden: css({ [NARROW]: { display: 'none' } }),
  wrap: css({ overflowWrap: 'anywhere' }),
  sortButton: css({
    all: 'unset',
    cursor: 'pointer',
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(0.5),
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}`, outlineOffset: 2 },
  }),
  sortIdle: css({ opacity: 0.4 }),
  search: css({ flex: '1 1 320px', maxWidth: 520 }),
  table: cx(getTableStyles(theme), css({ '&:focus': { outline: 'none' }, '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` } })),
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
