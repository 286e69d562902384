// The request console's model: which calls a DataPlaneService offers (from the generated
// ENDPOINTS of pkg/routes and the spec's own routes), with the real namespace and datasource
// uid filled in, how to send them through the UI's http layer, and the equivalent curl.
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
  /** Stream subscriptions: the messages read (one JSON event per line), without an error line. */
  messages?: string[];
  /**
   * Stream subscriptions: the Status of the error line `{"error": <Status>}` with which dpa
   * ends a stream that failed (the plugin's RunStream returned an error, the plugin went away,
   * the subscriber fell behind).
   */
  streamError?: StreamErrorStatus;
  /** A transport failure (no HTTP answer). */
  networkError?: string;
  /** The user cancelled the call before its answer came. */
  cancelled?: boolean;
}

/** The Kubernetes Status of a stream's error line. */
export interface StreamErrorStatus {
  kind?: string;
  status?: string;
  code?: number;
  reason?: string;
  message?: string;
}

/**
 * streamErrorOf recognises dpa's stream error line, `{"error": <Status>}` (one object whose
 * only key is "error", holding a Kubernetes Status): the stream's last line when it failed.
 * Anything else is an ordinary message.
 */
export function streamErrorOf(line: string): StreamErrorStatus | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    return undefined;
  }
  const keys = Object.keys(v);
  const e = (v as { error?: unknown }).error;
  if (keys.length !== 1 || keys[0] !== 'error' || !e || typeof e !== 'object') {
    return undefined;
  }
  const st = e as StreamErrorStatus;
  return st.kind === 'Status' || typeof st.code === 'number' ? st : undefined;
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

const cancelledAfter = (start: number): ConsoleResponse => ({
  status: 0,
  ms: performance.now() - start,
  headers: [],
  body: undefined,
  text: '',
  cancelled: true,
});

/**
 * sendRequest sends one console call through Grafana's BackendSrv (inside Grafana: the app
 * plugin's resource proxy; standalone: the fetch-based one with the session cookie and the
 * CSRF header), the same layer as every other request of the UI. HTTP errors are answers
 * here, not exceptions.
 *
 * It sets no time limit of its own: dpa ends every non-stream call at its --timeout for the
 * service type (504 with the server's reason), and that answer is what the user needs to see.
 * A client limit would either cut the server's answer off (as the old 30 s one did with the
 * default query deadline of 30 s) or need the server's --timeout, which dpa does not expose to
 * clients. Grafana's own BackendSrv sets no limit either. The user ends a call with signal
 * (the console's Cancel): the fetch is aborted and the answer says it was cancelled.
 */
export function sendRequest(url: string, method: string, body?: string, opts: { signal?: AbortSignal } = {}): Promise<ConsoleResponse> {
  const start = performance.now();
  const withBody = body !== undefined && hasBody(method);
  if (opts.signal?.aborted) {
    return Promise.resolve(cancelledAfter(start));
  }
  return new Promise<ConsoleResponse>((resolve) => {
    let settled = false;
    const onAbort = () => {
      sub.unsubscribe(); // aborts the fetch (Grafana's BackendSrv and the standalone one)
      done(cancelledAfter(start));
    };
    const done = (r: ConsoleResponse) => {
      if (!settled) {
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(r);
      }
    };
    const sub = getBackendSrv()
      .fetch<unknown>({
        method,
        url,
        data: withBody ? body : undefined,
        headers: { Accept: 'application/json, */*', ...(withBody ? { 'Content-Type': 'application/json' } : {}) },
        responseType: 'text',
        showErrorAlert: false,
        showSuccessAlert: false,
        abortSignal: opts.signal,
      })
      .subscribe({
        next: (r) => done({ status: r.status, statusText: r.statusText, ms: performance.now() - start, headers: headerList(r.headers), ...normalizeBody(r.data) }),
        error: (e) => {
          const ms = performance.now() - start;
          if (opts.signal?.aborted) {
            done(cancelledAfter(start));
            return;
          }
          const fe = (e ?? {}) as { status?: number; statusText?: string; data?: unknown; message?: string; headers?: unknown; cancelled?: boolean };
          if (!fe.status) {
            done({ status: 0, ms, headers: [], body: undefined, text: '', networkError: fe.statusText || fe.message || String(e) });
            return;
          }
          done({ status: fe.status, statusText: fe.statusText, ms, headers: headerList(fe.headers), ...normalizeBody(fe.data) });
        },
      });
    if (!settled) {
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/**
 * listenStream subscribes to a stream channel for up to ms milliseconds or max messages and
 * then leaves (signal leaves earlier: the console's Cancel). BackendSrv buffers whole answers,
 * so a subscription, which never ends, is read with fetch's body stream (same origin, the
 * same cookie; a GET needs no CSRF header). dpa's error line `{"error": <Status>}` ends the
 * reading and is returned as streamError, not as a message.
 */
export async function listenStream(
  url: string,
  opts: { ms?: number; max?: number; fetchImpl?: typeof fetch; signal?: AbortSignal } = {}
): Promise<ConsoleResponse> {
  const doFetch = opts.fetchImpl ?? ((...a: Parameters<typeof fetch>) => window.fetch(...a));
  const controller = new AbortController();
  const start = performance.now();
  const timer = setTimeout(() => controller.abort(), opts.ms ?? 3000);
  const cancel = () => controller.abort();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  const messages: string[] = [];
  let streamError: StreamErrorStatus | undefined;
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
    const take = (lines: string[]) => {
      for (const l of lines) {
        if (l.trim() === '' || streamError) {
          continue;
        }
        const e = streamErrorOf(l);
        if (e) {
          streamError = e;
        } else {
          messages.push(l);
        }
      }
    };
    try {
      while (messages.length < (opts.max ?? 20) && !streamError) {
        const { done, value } = await reader.read();
        if (done) {
          take([buf]);
          break;
        }
        buf += decoder.decode(value, { stream: true });
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        take(lines);
      }
    } catch {
      // aborted: the listening time is over (or the user cancelled)
    } finally {
      controller.abort();
    }
    return {
      status: resp.status,
      statusText: resp.statusText,
      ms: performance.now() - start,
      headers,
      body: undefined,
      text: messages.join('\n'),
      messages,
      streamError,
      cancelled: opts.signal?.aborted || undefined,
    };
  } catch (e) {
    if (opts.signal?.aborted) {
      return cancelledAfter(start);
    }
    return { status: 0, ms: performance.now() - start, headers: [], body: undefined, text: '', networkError: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', cancel);
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

/** Why the service does not serve calls now: its Available condition when that is False. */
export function unavailable(obj: DataPlaneService): { reason: string; message: string } | undefined {
  const c = obj.status?.conditions?.find((x) => x.type === 'Available');
  if (!c || c.status !== 'False') {
    return undefined;
  }
  return { reason: c.reason || 'Unavailable', message: c.message || '' };
}

/**
 * emptyConsoleText says why the console offers no call at all: the service's plugin is not
 * installed (or otherwise unavailable) — not a permissions problem — or, when the service is
 * available, that the user may call nothing here.
 */
export function emptyConsoleText(obj: DataPlaneService): string {
  const u = unavailable(obj);
  if (u?.reason === 'PluginNotFound') {
    return `The plugin ${obj.spec.pluginID} is not installed (PluginNotFound): dpa serves no calls for this service until it is.`;
  }
  if (u) {
    return `This service is not available (${u.reason})${u.message ? `: ${u.message}` : ''}.`;
  }
  return 'Nothing here that you may call.';
}
