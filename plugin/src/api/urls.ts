import type { DataPlaneService, Service } from './types';
import { ENDPOINTS } from './endpoints.gen';

export interface ConcreteURL {
  method: string;
  path: string;
}

/**
 * concreteURLs lists the URLs a service entry makes the aggregator serve: the built-in
 * endpoints of its type for the object's plugin type (generated from pkg/routes, the one
 * definition dpa serves from), or a custom route's own method and path.
 */
export function concreteURLs(obj: DataPlaneService, s: Service): ConcreteURL[] {
  const base = `/apis/${obj.spec.group}/${obj.spec.version}`;
  if (s.type === 'route') {
    return [{ method: s.method || 'ANY', path: `${base}${s.path ?? ''}` }];
  }
  return (ENDPOINTS[s.type] ?? [])
    .filter((e) => e.pluginType === obj.spec.pluginType)
    .map((e) => ({ method: e.methods.length ? e.methods.join(', ') : 'ANY', path: e.path === '/' ? base : `${base}${e.path}` }));
}

/** age formats the time since ts like kubectl does: 45s, 12m, 5h, 3d. */
export function age(ts: string | undefined, now: number = Date.now()): string {
  if (!ts) {
    return '';
  }
  const t = Date.parse(ts);
  if (isNaN(t)) {
    return '';
  }
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 120) {
    return `${m}m`;
  }
  const h = Math.floor(m / 60);
  if (h < 48) {
    return `${h}h`;
  }
  return `${Math.floor(h / 24)}d`;
}

/**
 * urlSegments splits a URL or path after each "/", the only places where the UI lets it wrap:
 * "/apis/g/v/{uid}" → ["/", "apis/", "g/", "v/", "{uid}"]. Joined, the segments are the text.
 */
export function urlSegments(url: string): string[] {
  return url.match(/[^/]*\/|[^/]+$/g) ?? [];
}
