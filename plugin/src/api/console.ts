// The request console's model: which calls a DataPlaneService offers (from the generated
// ENDPOINTS of pkg/routes and the spec's own routes), with the real namespace and datasource
// uid filled in, how to send them through the UI's http layer, and the equivalent curl.
import { lastValueFrom } from 'rxjs';
import { getBackendSrv } from '@grafana/runtime';
import { ENDPOINTS, VERBS } from './endpoints.gen';
import { SERVICE_TYPES, type DataPlaneService, type ServiceType } from './types';

/** Where a call goes: a datasource of a namespace, or (app plugins) the namespace itself. */
export interface ConsoleTarget {
  namespace: string;
  uid?: string;
  title?: string;
}

export type EndpointScope = 'datasource' | 'namespace' | 'global';

export interface ConsoleEndpoint {
  key: string;
  type: ServiceType;
  /** Allowed methods; ['GET','POST','PUT','PATCH','DELETE'] when the endpoint takes any. */
  methods: string[];
  /** The path template relative to the host, e.g. /apis/g/v/namespaces/{namespace}/datasources/{uid}/query. */
  template: string;
  scope: EndpointScope;
  /** A trailing {path...} must not be empty (streams name a channel). */
  pathRequired: boolean;
}

export const ANY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The service types the console offers calls for: every type (health has its own Test button too). */
export const CONSOLE_TYPES: ServiceType[] = SERVICE_TYPES;

function scopeOf(template: string): EndpointScope {
  if (template.includes('{uid}')) {
    return 'datasource';
  }
  return template.includes('{namespace}') ? 'namespace' : 'global';
}

/** consoleEndpoints lists the calls obj's declared services make dpa serve, in spec order. */
export function consoleEndpoints(obj: DataPlaneService): ConsoleEndpoint[] {
  const base = `/apis/${obj.spec.group}/${obj.spec.version}`;
  const out: ConsoleEndpoint[] = [];
  const seen = new Set<string>();
  obj.spec.services.forEach((s, i) => {
    if (!CONSOLE_TYPES.includes(s.type)) {
      return;
    }
    if (s.type === 'route') {
      const template = `${base}${s.path ?? ''}`;
      out.push({
        key: `route-${i}`,
        type: 'route',
        methods: s.method ? [s.method] : ANY_METHODS,
        template,
        scope: scopeOf(template),
        pathRequired: false,
      });
      return;
    }
    if (seen.has(s.type)) {
      return;
    }
    seen.add(s.type);
    (ENDPOINTS[s.type] ?? [])
      .filter((e) => e.pluginType === obj.spec.pluginType)
      .forEach((e, j) => {
        const template = e.path === '/' ? base : `${base}${e.path}`;
        out.push({
          key: `${s.type}-${j}`,
          type: s.type,
          methods: e.methods.length ? e.methods : ANY_METHODS,
          template,
          scope: scopeOf(template),
          pathRequired: e.pathRequired,
        });
      });
  });
  return out;
}

/**
 * fillTemplate puts the target's namespace and uid into a template and splits it at the first
 * placeholder left: prefix is fixed, suffix is what the user completes ({path...} becomes '',
 * other placeholders such as {id} stay for the user to replace).
 */
export function fillTemplate(template: string, target: ConsoleTarget | undefined): { prefix: string; suffix: string } {
  let p = template;
  if (target) {
    p = p.replace('{namespace}', encodeURIComponent(target.namespace));
    if (target.uid !== undefined) {
      p = p.replace('{uid}', encodeURIComponent(target.uid));
    }
  }
  const i = p.indexOf('{');
  if (i < 0) {
    return { prefix: p, suffix: '' };
  }
  return { prefix: p.slice(0, i), suffix: p.slice(i).replace(/\{[A-Za-z_][A-Za-z0-9_]*\.\.\.\}$/, '') };
}

/** consolePath joins the fixed prefix and the user's suffix; error says what is still missing. */
export function consolePath(prefix: string, suffix: string, ep: Pick<ConsoleEndpoint, 'pathRequired'>): { path: string; error?: string } {
  let s = suffix.trim();
  if (prefix.endsWith('/') && s.startsWith('/')) {
    s = s.replace(/^\/+/, '');
  }
  const path = prefix + s;
  const ph = path.split('?')[0].match(/\{[^}]*\}/);
  if (ph) {
    return { path, error: `Replace ${ph[0]} in the path` };
  }
  if (ep.pathRequired && s.split('?')[0] === '') {
    return { path, error: 'A stream needs a channel path, e.g. ticks' };
  }
  return { path };
}

/** exampleBody is a sensible first body for a call of type (what the example plugins accept). */
export function exampleBody(type: ServiceType, obj: DataPlaneService, target?: ConsoleTarget): string {
  switch (type) {
    case 'query':
      return JSON.stringify(
        {
          from: 'now-1h',
          to: 'now',
          queries: [{ refId: 'A', datasource: { type: obj.spec.pluginID, uid: target?.uid ?? '' } }],
        },
        null,
        2
      );
    default:
      return '{}';
  }
}

/** defaultMethod is GET where the endpoint answers it, else its one method (POST for query, admission, conversion). */
export function defaultMethod(ep: ConsoleEndpoint): string {
  return ep.methods.includes('GET') ? 'GET' : ep.methods[0];
}

export const hasBody = (method: string) => !['GET', 'HEAD', 'DELETE'].includes(method);

/** A stream subscription is a long-lived GET: the console listens for a while, then leaves. */
export const isSubscription = (ep: Pick<ConsoleEndpoint, 'type'>, method: string) =>
  VERBS[ep.type]?.methodVerbs[method] === 'subscribe';

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * curlCommand is the request as a curl command line with a $TOKEN placeholder, never a real
 * credential (the UI's own requests carry a session cookie, which is left out too).
 */
export function curlCommand(opts: { method: string; url: string; body?: string; stream?: boolean }): string {
  const parts = ['curl -sk'];
  if (opts.stream) {
    parts[0] += 'N';
  }
  if (opts.method !== 'GET') {
    parts.push(`-X ${opts.method}`);
  }
  parts.push(shellQuote(opts.url));
  parts.push('-H "Authorization: Bearer $TOKEN"');
  if (opts.stream) {
    parts.push(`-H 'Accept: application/x-ndjson'`);
  }
  if (opts.body !== undefined && hasBody(opts.method)) {
    parts.push(`-H 'Content-Type: application/json'`);
    parts.push(`--data-raw ${shellQuote(opts.body)}`);
  }
  return parts.join(' \\\n  ');
}

export interface ConsoleResponse {
  status: number;
  statusText?: string;
  /** Milliseconds from sending to the complete answer (streams: to the last message read). */
  ms: number;
  /** Response headers, when the http layer exposes them (not for error answers). */
  headers: Array<[string, string]>;
  /** The body: parsed JSON, else text. */
  body: unknown;
  text: string;
  /** Stream subscriptions: the messages read (one JSON event per line). */
  messages?: string[];
  /** A transport failure (no HTTP answer). */
  networkError?: string;
}

function normalizeBody(data: unknown): { body: unknown; text: string } {
  if (typeof data === 'string') {
    try {
      return { body: JSON.parse(data), text: data };
    } catch {
      return { body: data, text: data };
    }
  }
  if (data === undefined || data === null) {
    return { body: undefined, text: '' };
  }
  return { body: data, text: JSON.stringify(data, null, 2) };
}

function headerList(h: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (h && typeof (h as Headers).forEach === 'function') {
    (h as Headers).forEach((v, k) => out.push([k, v]));
  } else if (h && typeof h === 'object') {
    Object.entries(h as Record<string, unknown>).forEach(([k, v]) => typeof v === 'string' && out.push([k.toLowerCase(), v]));
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

/**
 * sendRequest sends one console call through Grafana's BackendSrv (inside Grafana: the app
 * plugin's resource proxy; standalone: the fetch-based one with the session cookie and the
 * CSRF header), the same layer as every other request of the UI. HTTP errors are answers
 * here, not exceptions.
 */
export async function sendRequest(url: string, method: string, body?: string): Promise<ConsoleResponse> {
  const start = performance.now();
  const withBody = body !== undefined && hasBody(method);
  try {
    const r = await lastValueFrom(
      getBackendSrv().fetch<unknown>({
        method,
        url,
        data: withBody ? body : undefined,
        headers: { Accept: 'application/json, */*', ...(withBody ? { 'Content-Type': 'application/json' } : {}) },
        responseType: 'text',
        showErrorAlert: false,
        showSuccessAlert: false,
      })
    );
    const ms = performance.now() - start;
    return { status: r.status, statusText: r.statusText, ms, headers: headerList(r.headers), ...normalizeBody(r.data) };
  } catch (e) {
    const ms = performance.now() - start;
    const fe = (e ?? {}) as { status?: number; statusText?: string; data?: unknown; message?: string; headers?: unknown };
    if (!fe.status) {
      return { status: 0, ms, headers: [], body: undefined, text: '', networkError: fe.statusText || fe.message || String(e) };
    }
    return { status: fe.status, statusText: fe.statusText, ms, headers: headerList(fe.headers), ...normalizeBody(fe.data) };
  }
}

/**
 * listenStream subscribes to a stream channel for up to ms milliseconds or max messages and
 * then leaves. BackendSrv buffers whole answers, so a subscription, which never ends, is read
 * with fetch's body stream (same origin, the same cookie; a GET needs no CSRF header).
 */
export async function listenStream(
  url: string,
  opts: { ms?: number; max?: number; fetchImpl?: typeof fetch } = {}
): Promise<ConsoleResponse> {
  const doFetch = opts.fetchImpl ?? ((...a: Parameters<typeof fetch>) => window.fetch(...a));
  const controller = new AbortController();
  const start = performance.now();
  const timer = setTimeout(() => controller.abort(), opts.ms ?? 3000);
  const messages: string[] = [];
  try {
    const resp = await doFetch(url, { headers: { Accept: 'application/x-ndjson' }, credentials: 'same-origin', signal: controller.signal });
    const headers = headerList(resp.headers);
    if (!resp.ok || !resp.body) {
      const text = await resp.text();
      return { status: resp.status, statusText: resp.statusText, ms: performance.now() - start, headers, ...normalizeBody(text) };
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      while (messages.length < (opts.max ?? 20)) {
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        buf += decoder.decode(value, { stream: true });
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        messages.push(...lines.filter((l) => l.trim() !== ''));
      }
    } catch {
      // aborted: the listening time is over
    } finally {
      controller.abort();
    }
    return { status: resp.status, statusText: resp.statusText, ms: performance.now() - start, headers, body: undefined, text: messages.join('\n'), messages };
  } catch (e) {
    return { status: 0, ms: performance.now() - start, headers: [], body: undefined, text: '', networkError: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

/** Namespaces the user belongs to, from dpa's group convention (grafana:org:<id>:<role>). */
export function namespacesOf(groups: string[]): { serverAdmin: boolean; namespaces: string[] } {
  const serverAdmin = groups.includes('system:masters') || groups.includes('grafana:server-admin');
  const orgs = new Set<number>();
  for (const g of groups) {
    const m = g.match(/^grafana:org:(\d+):(Viewer|Editor|Admin)$/);
    if (m) {
      orgs.add(Number(m[1]));
    }
  }
  const namespaces = [...orgs].sort((a, b) => a - b).map((o) => (o === 1 ? 'default' : `org-${o}`));
  if (serverAdmin && !namespaces.includes('default')) {
    namespaces.unshift('default');
  }
  return { serverAdmin, namespaces };
}

/** What a health answer says: Grafana's HealthCheckResult (status OK / ERROR, message). */
export function healthSummary(r: ConsoleResponse): { ok: boolean; text: string } {
  if (r.networkError) {
    return { ok: false, text: r.networkError };
  }
  const b = (r.body ?? {}) as { status?: string; message?: string; kind?: string };
  if (r.status >= 200 && r.status < 300 && b.status === 'OK') {
    return { ok: true, text: `OK${b.message ? ` — ${b.message}` : ''}` };
  }
  const msg = b.message || (typeof r.body === 'string' ? r.body : '') || r.statusText || '';
  return { ok: false, text: `${b.kind === 'Status' ? `HTTP ${r.status}` : b.status || `HTTP ${r.status}`}${msg ? ` — ${msg}` : ''}` };
}
