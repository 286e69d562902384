import type { DataPlaneService, Service } from './types';

export interface ConcreteURL {
  method: string;
  path: string;
}

/** concreteURLs lists the URLs a service entry makes the aggregator serve. */
export function concreteURLs(obj: DataPlaneService, s: Service): ConcreteURL[] {
  const base = `/apis/${obj.spec.group}/${obj.spec.version}`;
  const ds = `${base}/namespaces/{namespace}/datasources/{uid}`;
  switch (s.type) {
    case 'query':
      return [{ method: 'POST', path: `${ds}/query` }];
    case 'health':
      return [
        {
          method: 'GET',
          path: obj.spec.pluginType === 'app' ? `${base}/namespaces/{namespace}/health` : `${ds}/health`,
        },
      ];
    case 'resource':
      return [{ method: 'ANY', path: `${ds}/resource/{path...}` }];
    case 'route':
      return [{ method: s.method || 'ANY', path: `${base}${s.path ?? ''}` }];
    case 'stream':
      return [{ method: 'GET', path: `${ds}/stream/{path...}` }];
    case 'metrics':
      return [{ method: 'GET', path: `${base}/metrics` }];
    case 'admission':
      return [
        { method: 'POST', path: `${base}/admission/validate` },
        { method: 'POST', path: `${base}/admission/mutate` },
      ];
    case 'conversion':
      return [{ method: 'POST', path: `${base}/conversion` }];
    case 'datasource-proxy':
      return [{ method: 'ANY', path: `${ds}/proxy/{path...}` }];
    default:
      return [];
  }
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
