// Client-side checks mirroring the API server's rules (pkg/app). The server stays the
// authority: whatever it rejects comes back as a 422 whose causes are shown next to fields.
import { HTTP_METHODS, PLUGIN_TYPES, SERVICE_TYPES, type DataPlaneService, type Service, type Spec } from './types';

export type FieldErrors = Record<string, string>;

/** Served by the resource API itself; no plugin may claim it. */
export const RESERVED_GROUP = 'aggregation.grafana.app';
export const PLUGIN_ID_RE = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
export const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`);
export const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const PARAM_RE = /^\{[A-Za-z_][A-Za-z0-9_]*\}$/;
const CATCHALL_RE = /^\{[A-Za-z_][A-Za-z0-9_]*\.\.\.\}$/;

export function validateName(name: string): string | undefined {
  if (!name) {
    return 'Name is required';
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN_RE.test(name)) {
    return 'Must be lower-case letters, digits, "-" and "." (a DNS-1123 subdomain), starting and ending with a letter or digit';
  }
  return undefined;
}

export function validatePluginID(id: string): string | undefined {
  if (!id) {
    return 'Plugin ID is required';
  }
  if (id.length > 63) {
    return 'Must be at most 63 characters';
  }
  if (!PLUGIN_ID_RE.test(id)) {
    return 'Must be lower-case letters and digits separated by single dashes, e.g. "my-datasource"';
  }
  return undefined;
}

export function validateGroup(group: string): string | undefined {
  if (!group) {
    return 'Group is required';
  }
  if (group.length > 253 || !DNS1123_SUBDOMAIN_RE.test(group)) {
    return 'Must be a DNS-1123 subdomain, e.g. "myplugin.grafana.app"';
  }
  if (group === RESERVED_GROUP) {
    return `${RESERVED_GROUP} is served by the aggregator itself`;
  }
  return undefined;
}

export function validateVersion(version: string): string | undefined {
  if (!version) {
    return 'Version is required';
  }
  if (version.length > 63 || !DNS1035_LABEL_RE.test(version)) {
    return 'Must be a DNS-1035 label (starts with a letter; lower-case letters, digits, "-"), e.g. "v0alpha1"';
  }
  return undefined;
}

/**
 * validateRoutePath mirrors the server's ParseRoutePath: starts with "/", no "?"/"#", no empty,
 * "." or ".." segments, no trailing "/", placeholders fill a whole segment, are identifiers used
 * once, and a {name...} catch-all is only allowed as the last segment.
 */
export function validateRoutePath(path: string | undefined): string | undefined {
  if (!path) {
    return 'Path is required for a route';
  }
  if (!path.startsWith('/')) {
    return 'Path must start with "/"';
  }
  if (path === '/') {
    return undefined;
  }
  if (/[?#]/.test(path)) {
    return 'Path must not contain a query or fragment';
  }
  const segments = path.slice(1).split('/');
  const names = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === '') {
      return i === segments.length - 1 ? 'Path must not end with "/"' : 'Path must not contain empty segments (//)';
    }
    if (seg === '.' || seg === '..') {
      return 'Path must not contain "." or ".." segments';
    }
    if (!seg.includes('{') && !seg.includes('}')) {
      continue;
    }
    const catchAll = CATCHALL_RE.test(seg);
    if (!catchAll && !PARAM_RE.test(seg)) {
      if (seg.startsWith('{') && seg.endsWith('}')) {
        return `Placeholder "${seg}" must be {name} or {name...} with an identifier name`;
      }
      return `Segment "${seg}": a placeholder must fill the whole segment`;
    }
    if (catchAll && i !== segments.length - 1) {
      return 'A {name...} catch-all is only allowed as the last segment';
    }
    const name = seg.replace(/^\{|(\.\.\.)?\}$/g, '');
    if (names.has(name)) {
      return `Placeholder {${name}} is used twice`;
    }
    names.add(name);
  }
  return undefined;
}

export function serviceKey(s: Service): string {
  return `${s.type}|${s.type === 'route' ? s.method ?? '' : ''}|${s.type === 'route' ? s.path ?? '' : ''}`;
}

export function validateServices(services: Service[]): FieldErrors {
  const errs: FieldErrors = {};
  if (!services || services.length === 0) {
    errs['spec.services'] = 'Add at least one service';
    return errs;
  }
  const seen = new Map<string, number>();
  services.forEach((s, i) => {
    const p = `spec.services[${i}]`;
    if (!SERVICE_TYPES.includes(s.type)) {
      errs[`${p}.type`] = `Type must be one of ${SERVICE_TYPES.join(', ')}`;
      return;
    }
    if (s.type === 'route') {
      if (s.method !== undefined && !HTTP_METHODS.includes(s.method)) {
        errs[`${p}.method`] = 'Method must be GET, POST, PUT, PATCH, DELETE or empty (any)';
      }
      const pe = validateRoutePath(s.path);
      if (pe) {
        errs[`${p}.path`] = pe;
      }
    } else {
      if (s.method) {
        errs[`${p}.method`] = 'Method applies to "route" services only';
      }
      if (s.path) {
        errs[`${p}.path`] = 'Path applies to "route" services only';
      }
    }
    const key = serviceKey(s);
    const prev = seen.get(key);
    if (prev !== undefined) {
      errs[`${p}.type`] = errs[`${p}.type`] ?? `Duplicate of service #${prev + 1}`;
    } else {
      seen.set(key, i);
    }
  });
  return errs;
}

export function validateSpec(spec: Spec): FieldErrors {
  const errs: FieldErrors = {};
  const add = (k: string, v: string | undefined) => {
    if (v) {
      errs[k] = v;
    }
  };
  add('spec.pluginID', validatePluginID(spec.pluginID));
  add(
    'spec.pluginType',
    (PLUGIN_TYPES as readonly string[]).includes(spec.pluginType) ? undefined : 'Plugin type must be "app" or "datasource"'
  );
  add('spec.group', validateGroup(spec.group));
  add('spec.version', validateVersion(spec.version));
  return { ...errs, ...validateServices(spec.services) };
}

export function validateObject(obj: DataPlaneService): FieldErrors {
  const errs = validateSpec(obj.spec);
  const ne = validateName(obj.metadata.name);
  if (ne) {
    errs['metadata.name'] = ne;
  }
  return errs;
}

/** cleanServices drops method/path from non-route services and empty methods from routes. */
export function cleanServices(services: Service[]): Service[] {
  return services.map((s) => {
    if (s.type !== 'route') {
      return { type: s.type };
    }
    const out: Service = { type: 'route', path: s.path ?? '' };
    if (s.method) {
      out.method = s.method;
    }
    return out;
  });
}
