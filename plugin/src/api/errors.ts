import type { K8sStatus, StatusCause } from './types';

/** ApiError is thrown by the client for any non-2xx answer. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly causes: StatusCause[];
  readonly body: unknown;

  constructor(status: number, body: unknown, fallbackMessage?: string) {
    const st = asStatus(body);
    const message =
      st?.message || (typeof body === 'string' && body.trim() ? body.trim() : '') || fallbackMessage || `HTTP ${status}`;
    super(message);
    this.name = 'ApiError';
    this.status = status || st?.code || 0;
    this.reason = st?.reason || reasonFor(this.status);
    this.causes = st?.details?.causes ?? [];
    this.body = body;
  }

  get isConflict(): boolean {
    return this.status === 409 && this.reason !== 'AlreadyExists';
  }
  get isAlreadyExists(): boolean {
    return this.status === 409 && this.reason === 'AlreadyExists';
  }
  get isInvalid(): boolean {
    return this.status === 422;
  }
  get isNotFound(): boolean {
    return this.status === 404;
  }
  get isUnauthorized(): boolean {
    return this.status === 401;
  }
}

export function asStatus(body: unknown): K8sStatus | undefined {
  if (body && typeof body === 'object' && (body as { kind?: unknown }).kind === 'Status') {
    return body as K8sStatus;
  }
  return undefined;
}

function reasonFor(status: number): string {
  switch (status) {
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 422:
      return 'Invalid';
    default:
      return status >= 500 ? 'InternalError' : 'Unknown';
  }
}

/**
 * Maps the causes of a 422 to form fields. Keys are the server's field paths
 * (e.g. "spec.services[1].path"); causes without a field go under "".
 */
export function causesByField(err: ApiError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of err.causes) {
    const key = normalizeField(c.field ?? '');
    const msg = c.message || c.reason || 'invalid';
    out[key] = out[key] ? `${out[key]}; ${msg}` : msg;
  }
  if (err.isInvalid && err.causes.length === 0) {
    out[''] = err.message;
  }
  return out;
}

/** "spec.services.1.path" and "spec.services[1].path" both become the bracket form. */
export function normalizeField(field: string): string {
  return field.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}
