import { Observable } from 'rxjs';
import type { BackendSrv, BackendSrvRequest, FetchResponse } from '@grafana/runtime';
import { ApiError } from '../api/errors';
import type { StreamFn } from '../api/listwatch';

export const CSRF_HEADER = 'X-DPA-CSRF';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface FetchBackendOptions {
  /** Called on 401 (e.g. redirect to the sign-in page). */
  onUnauthorized?: () => void;
  fetchImpl?: typeof fetch;
  /**
   * A page's own request (list, object, access review) that gets no answer within this fails
   * (default 30 s), so no page waits forever. Requests that carry an abortSignal have no such
   * limit: their caller ends them (the request console, whose Cancel aborts the call).
   */
  timeoutMs?: number;
}

function buildURL(url: string, params?: BackendSrvRequest['params']): string {
  if (!params || Object.keys(params).length === 0) {
    return url;
  }
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
    if (v === undefined || v === null) {
      continue;
    }
    if (Array.isArray(v)) {
      v.forEach((x) => q.append(k, String(x)));
    } else {
      q.append(k, String(v));
    }
  }
  const s = q.toString();
  return s ? `${url}${url.includes('?') ? '&' : '?'}${s}` : url;
}

/**
 * A fetch-based stand-in for Grafana's BackendSrv, for the standalone UI. Requests go to the
 * same origin with the session cookie; writes carry X-DPA-CSRF: 1 (the server only accepts
 * cookie-authenticated writes with that header). Errors reject with Grafana's FetchError shape.
 */
export function createFetchBackendSrv(opts: FetchBackendOptions = {}): BackendSrv {
  const doFetch = opts.fetchImpl ?? ((...a: Parameters<typeof fetch>) => window.fetch(...a));

  function fetchObs<T>(options: BackendSrvRequest): Observable<FetchResponse<T>> {
    return new Observable<FetchResponse<T>>((subscriber) => {
      const controller = new AbortController();
      const method = (options.method ?? 'GET').toUpperCase();
      const headers: Record<string, string> = { Accept: 'application/json', ...(options.headers ?? {}) };
      if (!SAFE.has(method)) {
        headers[CSRF_HEADER] = '1';
      }
      let body: BodyInit | undefined;
      if (options.data !== undefined && method !== 'GET') {
        if (typeof options.data === 'string') {
          body = options.data;
        } else {
          body = JSON.stringify(options.data);
          headers['Content-Type'] = headers['Content-Type'] ?? 'application/json';
        }
      }
      const url = buildURL(options.url, options.params);
      // No client limit on a request whose caller holds an abortSignal, as with Grafana's
      // BackendSrv (which has none at all): the request console waits for dpa, which ends every
      // non-stream call at its --timeout (a 504 that says so); a limit here used to cut that
      // answer off at 30 s — exactly the default query deadline — and before any longer
      // --timeout. The user ends such a call with Cancel (the signal).
      const timeoutMs = options.abortSignal ? undefined : (opts.timeoutMs ?? 30000);
      let timedOut = false;
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              controller.abort();
              subscriber.error({
                status: 0,
                statusText: `The server did not answer within ${Math.round(timeoutMs / 1000)} s`,
                data: undefined,
                config: options,
              });
            }, timeoutMs);
      const onAbort = () => controller.abort();
      if (options.abortSignal?.aborted) {
        controller.abort();
      }
      options.abortSignal?.addEventListener('abort', onAbort, { once: true });
      doFetch(url, { method, headers, body, credentials: 'same-origin', signal: controller.signal })
        .then(async (resp) => {
          const text = await resp.text();
          clearTimeout(timer);
          options.abortSignal?.removeEventListener('abort', onAbort);
          let data: unknown = text;
          if (text && (resp.headers.get('content-type') ?? '').includes('json')) {
            try {
              data = JSON.parse(text);
            } catch {
              data = text;
            }
          }
          const fr = {
            data: data as T,
            status: resp.status,
            statusText: resp.statusText,
            ok: resp.ok,
            headers: resp.headers,
            redirected: resp.redirected,
            type: resp.type,
            url: resp.url,
            config: options,
          } as FetchResponse<T>;
          if (!resp.ok) {
            if (resp.status === 401) {
              opts.onUnauthorized?.();
            }
            subscriber.error({ status: resp.status, statusText: resp.statusText, data, config: options });
            return;
          }
          subscriber.next(fr);
          subscriber.complete();
        })
        .catch((e) => {
          clearTimeout(timer);
          options.abortSignal?.removeEventListener('abort', onAbort);
          if (options.abortSignal?.aborted) {
            // As Grafana's BackendSrv reports a cancelled request.
            subscriber.error({ status: -1, statusText: 'Request was aborted', cancelled: true, data: undefined, config: options });
          } else if (!controller.signal.aborted && !timedOut) {
            subscriber.error({ status: 0, statusText: e instanceof Error ? e.message : String(e), data: undefined, config: options });
          }
        });
      return () => {
        clearTimeout(timer);
        options.abortSignal?.removeEventListener('abort', onAbort);
        controller.abort();
      };
    });
  }

  const request = <T>(options: BackendSrvRequest): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      fetchObs<T>(options).subscribe({ next: (r) => resolve(r.data), error: reject });
    });

  const srv = {
    fetch: fetchObs,
    request,
    datasourceRequest: <T>(options: BackendSrvRequest) =>
      new Promise<FetchResponse<T>>((resolve, reject) => fetchObs<T>(options).subscribe({ next: resolve, error: reject })),
    get: <T>(url: string, params?: BackendSrvRequest['params']) => request<T>({ url, params, method: 'GET' }),
    delete: <T>(url: string, data?: unknown) => request<T>({ url, data, method: 'DELETE' }),
    post: <T>(url: string, data?: unknown) => request<T>({ url, data, method: 'POST' }),
    patch: <T>(url: string, data?: unknown) => request<T>({ url, data, method: 'PATCH' }),
    put: <T>(url: string, data?: unknown) => request<T>({ url, data, method: 'PUT' }),
    resolveCancelerIfExists: () => {},
  };
  return srv as unknown as BackendSrv;
}

/**
 * fetchStream streams a same-origin GET (a Kubernetes watch) with the session cookie, as
 * text chunks. A non-2xx answer throws ApiError (401 also calls onUnauthorized).
 */
export function fetchStream(opts: Pick<FetchBackendOptions, 'onUnauthorized' | 'fetchImpl'> = {}): StreamFn {
  const doFetch = opts.fetchImpl ?? ((...a: Parameters<typeof fetch>) => window.fetch(...a));
  return async function* (url: string, signal: AbortSignal) {
    const resp = await doFetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin', signal });
    if (!resp.ok || !resp.body) {
      const text = await resp.text();
      if (resp.status === 401) {
        opts.onUnauthorized?.();
      }
      let data: unknown = text;
      try {
        data = JSON.parse(text);
      } catch {}
      throw new ApiError(resp.status, data, resp.statusText);
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return;
        }
        yield decoder.decode(value, { stream: true });
      }
    } finally {
      reader.releaseLock();
    }
  };
}
