import { getBackendSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
import { ApiError } from './errors';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  params?: Record<string, string>;
  data?: unknown;
  headers?: Record<string, string>;
}

export interface HttpResponse<T> {
  status: number;
  data: T;
}

/** The one thing the client needs from its environment: send a request, get JSON back. */
export type HttpFn = <T>(req: HttpRequest) => Promise<HttpResponse<T>>;

/**
 * backendSrvHttp sends requests through Grafana's getBackendSrv().fetch (inside Grafana), or
 * through whatever setBackendSrv() installed (the standalone host installs a fetch-based one).
 */
export const backendSrvHttp: HttpFn = async <T,>(req: HttpRequest): Promise<HttpResponse<T>> => {
  try {
    const resp = await lastValueFrom(
      getBackendSrv().fetch<T>({
        method: req.method,
        url: req.url,
        params: req.params,
        data: req.data,
        headers: { Accept: 'application/json', ...(req.data !== undefined ? { 'Content-Type': 'application/json' } : {}), ...req.headers },
        showErrorAlert: false,
        showSuccessAlert: false,
      })
    );
    return { status: resp.status, data: resp.data };
  } catch (e: unknown) {
    throw toApiError(e);
  }
};

/** Converts Grafana's FetchError ({status, data, statusText}) or anything else into ApiError. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) {
    return e;
  }
  if (e && typeof e === 'object' && 'status' in e) {
    const fe = e as { status?: number; data?: unknown; statusText?: string; message?: string };
    return new ApiError(fe.status ?? 0, fe.data, fe.statusText || fe.message);
  }
  return new ApiError(0, undefined, e instanceof Error ? e.message : String(e));
}
