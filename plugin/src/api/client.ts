import { API_GROUP, API_VERSION, RESOURCE, type DataPlaneService, type DataPlaneServiceList } from './types';
import { backendSrvHttp, toApiError, type HttpFn } from './http';
import { PLUGINS_RESOURCE, type InstalledPlugin } from './plugins';
import { ListWatch, type ListWatchOptions, type Loading, type StreamFn } from './listwatch';

export const GRAFANA_API_BASE = '/api/plugins/dataplane-aggregator-app/resources';

/** The field manager the UI's writes are recorded under (else the server takes the browser's User-Agent). */
const FIELD_MANAGER = { fieldManager: 'dpa-ui' };

function writeParams(opts: { dryRun?: boolean }): Record<string, string> {
  return opts.dryRun ? { ...FIELD_MANAGER, dryRun: 'All' } : FIELD_MANAGER;
}

export interface ClientOptions {
  /** Prefix before /apis/...: GRAFANA_API_BASE inside Grafana, '' when served by dpa itself. */
  base: string;
  http?: HttpFn;
  /** How to stream a watch; without it, lists are polled. */
  stream?: StreamFn;
}

export interface Watcher {
  stop(): void;
}

/** A small typed client for aggregation.grafana.app/v0alpha1 DataPlaneServices. */
export class DataPlaneServiceClient {
  readonly base: string;
  private readonly http: HttpFn;
  private readonly stream?: StreamFn;

  constructor(opts: ClientOptions) {
    this.base = opts.base.replace(/\/+$/, '');
    this.http = opts.http ?? backendSrvHttp;
    this.stream = opts.stream;
  }

  collectionURL(): string {
    return `${this.base}/apis/${API_GROUP}/${API_VERSION}/${RESOURCE}`;
  }

  objectURL(name: string): string {
    return `${this.collectionURL()}/${encodeURIComponent(name)}`;
  }

  async list(params?: Record<string, string>): Promise<DataPlaneServiceList> {
    const r = await this.call<DataPlaneServiceList>({ method: 'GET', url: this.collectionURL(), params });
    return { ...r, items: r.items ?? [], metadata: r.metadata ?? {} };
  }

  /** listPlugins: the installed plugins dpa reports (the read-only Plugin resource). */
  async listPlugins(): Promise<InstalledPlugin[]> {
    const r = await this.call<{ items?: InstalledPlugin[] }>({
      method: 'GET',
      url: `${this.base}/apis/${API_GROUP}/${API_VERSION}/${PLUGINS_RESOURCE}`,
    });
    return (r.items ?? []).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  get(name: string): Promise<DataPlaneService> {
    return this.call({ method: 'GET', url: this.objectURL(name) });
  }

  /** create; with dryRun the server validates and admits the object, stores nothing and answers what it would store. */
  create(obj: DataPlaneService, opts: { dryRun?: boolean } = {}): Promise<DataPlaneService> {
    return this.call({ method: 'POST', url: this.collectionURL(), data: obj, params: writeParams(opts) });
  }

  /** update replaces the object; obj.metadata.resourceVersion guards against lost updates (409). */
  update(obj: DataPlaneService, opts: { dryRun?: boolean } = {}): Promise<DataPlaneService> {
    return this.call({ method: 'PUT', url: this.objectURL(obj.metadata.name), data: obj, params: writeParams(opts) });
  }

  async delete(name: string): Promise<void> {
    await this.call({ method: 'DELETE', url: this.objectURL(name) });
  }

  /**
   * canI asks the server (a SelfSubjectAccessReview, the same rules that authorize the
   * request itself) whether the signed-in user may perform verb on DataPlaneServices.
   */
  async canI(verb: 'create' | 'update' | 'delete' | 'list'): Promise<boolean> {
    const r = await this.call<{ status?: { allowed?: boolean } }>({
      method: 'POST',
      url: `${this.base}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`,
      data: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { group: API_GROUP, version: API_VERSION, resource: RESOURCE, verb } },
      },
    });
    return r.status?.allowed === true;
  }

  /**
   * review is a SelfSubjectAccessReview for any attributes (a data-plane route's resource
   * attributes, or a non-resource path like /metrics): allowed, and the server's reason.
   */
  async review(
    attrs:
      | { resourceAttributes: { group: string; version: string; resource: string; verb: string; namespace?: string; subresource?: string; name?: string } }
      | { nonResourceAttributes: { path: string; verb: string } }
  ): Promise<{ allowed: boolean; reason?: string }> {
    const r = await this.call<{ status?: { allowed?: boolean; reason?: string } }>({
      method: 'POST',
      url: `${this.base}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`,
      data: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: attrs },
    });
    return { allowed: r.status?.allowed === true, reason: r.status?.reason };
  }

  /** whoami is a SelfSubjectReview: the signed-in user's name and groups as dpa sees them. */
  async whoami(): Promise<{ username: string; groups: string[] }> {
    const r = await this.call<{ status?: { userInfo?: { username?: string; groups?: string[] } } }>({
      method: 'POST',
      url: `${this.base}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
      data: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    return { username: r.status?.userInfo?.username ?? '', groups: r.status?.userInfo?.groups ?? [] };
  }

  /**
   * listWatch keeps onItems up to date with every DataPlaneService: a list, then a Kubernetes
   * watch when the environment can stream (dpa's own UI), else a list every pollMs (inside
   * Grafana, whose plugin resource proxy does not stream a watch through).
   */
  listWatch(
    onItems: (items: DataPlaneService[], loading?: Loading) => void,
    onError: (err: unknown | null) => void,
    opts: Omit<ListWatchOptions, 'stream'> = {}
  ): Watcher {
    return new ListWatch(this, onItems, onError, { ...opts, stream: this.stream }).start();
  }

  private async call<T>(req: Parameters<HttpFn>[0]): Promise<T> {
    try {
      const r = await this.http<T>(req);
      return r.data;
    } catch (e) {
      throw toApiError(e);
    }
  }
}
