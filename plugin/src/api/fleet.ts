import type { Condition, DataPlaneService } from './types';

/**
 * The fleet view's model: each service's readiness from its conditions, and the list's
 * filter, sort and page state, which lives in the URL (?q=&type=&status=&reason=&sort=&page=)
 * so a view can be shared and survives a reload.
 */

export type ReadyState = 'Ready' | 'NotReady' | 'Pending';

export interface Readiness {
  state: ReadyState;
  /** What is wrong, for NotReady: the failing condition's reason (or `<Type><Status>`). */
  reason?: string;
  /** The failing condition's type (Registered, Available, …). */
  condition?: string;
  message?: string;
}

/**
 * readiness: no conditions yet → Pending; every condition True → Ready; otherwise NotReady,
 * named by the first False condition (else the first Unknown one).
 */
export function readiness(o: DataPlaneService): Readiness {
  const conds: Condition[] = o.status?.conditions ?? [];
  if (conds.length === 0) {
    return { state: 'Pending' };
  }
  const bad = conds.find((c) => c.status === 'False') ?? conds.find((c) => c.status !== 'True');
  if (!bad) {
    return { state: 'Ready' };
  }
  return { state: 'NotReady', condition: bad.type, reason: bad.reason || `${bad.type}${bad.status}`, message: bad.message };
}

export type SortKey = 'name' | 'plugin' | 'type' | 'group' | 'ready' | 'age';
export const SORT_KEYS: SortKey[] = ['name', 'plugin', 'type', 'group', 'ready', 'age'];

export interface FleetQuery {
  q: string;
  type: '' | 'app' | 'datasource';
  status: '' | ReadyState;
  reason: string;
  sort: SortKey;
  desc: boolean;
  /** 1-based. */
  page: number;
}

export const DEFAULT_QUERY: FleetQuery = { q: '', type: '', status: '', reason: '', sort: 'name', desc: false, page: 1 };
export const PAGE_SIZE = 50;

/** parseQuery reads the list state from a query string; unknown or bad values fall back to defaults. */
export function parseQuery(search: string): FleetQuery {
  const p = new URLSearchParams(search);
  const type = p.get('type');
  const status = p.get('status');
  const sortParam = p.get('sort') ?? '';
  const desc = sortParam.startsWith('-');
  const sort = sortParam.replace(/^-/, '') as SortKey;
  const page = parseInt(p.get('page') ?? '1', 10);
  return {
    q: p.get('q') ?? '',
    type: type === 'app' || type === 'datasource' ? type : '',
    status: status === 'Ready' || status === 'NotReady' || status === 'Pending' ? status : '',
    reason: p.get('reason') ?? '',
    sort: SORT_KEYS.includes(sort) ? sort : 'name',
    desc: SORT_KEYS.includes(sort) && desc,
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

/** formatQuery writes only what differs from the defaults, in a stable order. */
export function formatQuery(f: FleetQuery): string {
  const p = new URLSearchParams();
  if (f.q) {
    p.set('q', f.q);
  }
  if (f.type) {
    p.set('type', f.type);
  }
  if (f.status) {
    p.set('status', f.status);
  }
  if (f.reason) {
    p.set('reason', f.reason);
  }
  if (f.sort !== 'name' || f.desc) {
    p.set('sort', `${f.desc ? '-' : ''}${f.sort}`);
  }
  if (f.page > 1) {
    p.set('page', String(f.page));
  }
  return p.toString();
}

/** matchesText: name, plugin, group, version, group/version, and every condition's reason and message. */
export function matchesText(o: DataPlaneService, text: string): boolean {
  const q = text.trim().toLowerCase();
  if (!q) {
    return true;
  }
  const fields = [o.metadata.name, o.spec.pluginID, o.spec.group, o.spec.version, `${o.spec.group}/${o.spec.version}`];
  for (const c of o.status?.conditions ?? []) {
    fields.push(c.reason ?? '', c.message ?? '');
  }
  return fields.some((f) => (f ?? '').toLowerCase().includes(q));
}

export interface FleetView {
  /** The rows of the current page. */
  rows: DataPlaneService[];
  /** How many objects match every filter. */
  matched: number;
  /** The page shown (clamped to the pages there are) and how many there are. */
  page: number;
  pages: number;
  /** Counts over the objects that match the text and type filters (so each count says what a click shows). */
  byState: Record<ReadyState, number>;
  /** Reasons of NotReady objects, most frequent first. */
  byReason: Array<{ reason: string; count: number }>;
}

const STATE_ORDER: Record<ReadyState, number> = { NotReady: 0, Pending: 1, Ready: 2 };

function compare(a: DataPlaneService, b: DataPlaneService, key: SortKey, ra: Readiness, rb: Readiness): number {
  switch (key) {
    case 'plugin':
      return a.spec.pluginID.localeCompare(b.spec.pluginID);
    case 'type':
      return a.spec.pluginType.localeCompare(b.spec.pluginType);
    case 'group':
      return `${a.spec.group}/${a.spec.version}`.localeCompare(`${b.spec.group}/${b.spec.version}`);
    case 'ready':
      return STATE_ORDER[ra.state] - STATE_ORDER[rb.state] || (ra.reason ?? '').localeCompare(rb.reason ?? '');
    case 'age':
      // Oldest first when ascending, as kubectl's AGE column reads (largest age first).
      return (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
    default:
      return 0;
  }
}

/** fleetView filters, counts, sorts and pages the objects for the list. */
export function fleetView(items: DataPlaneService[], f: FleetQuery, pageSize = PAGE_SIZE): FleetView {
  const byState: Record<ReadyState, number> = { Ready: 0, NotReady: 0, Pending: 0 };
  const reasons = new Map<string, number>();
  const ready = new Map<DataPlaneService, Readiness>();
  const matched: DataPlaneService[] = [];
  for (const o of items) {
    if ((f.type && o.spec.pluginType !== f.type) || !matchesText(o, f.q)) {
      continue;
    }
    const r = readiness(o);
    ready.set(o, r);
    byState[r.state]++;
    if (r.reason) {
      reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
    }
    if ((f.status && r.state !== f.status) || (f.reason && r.reason !== f.reason)) {
      continue;
    }
    matched.push(o);
  }
  matched.sort((a, b) => {
    const c = compare(a, b, f.sort, ready.get(a)!, ready.get(b)!) || a.metadata.name.localeCompare(b.metadata.name);
    return f.desc ? -c : c;
  });
  const pages = Math.max(1, Math.ceil(matched.length / pageSize));
  const page = Math.min(Math.max(1, f.page), pages);
  return {
    rows: matched.slice((page - 1) * pageSize, page * pageSize),
    matched: matched.length,
    page,
    pages,
    byState,
    byReason: [...reasons.entries()]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
  };
}
