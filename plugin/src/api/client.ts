import { API_GROUP, API_VERSION, RESOURCE, type DataPlaneService, type DataPlaneServiceList } from './types';
import { backendSrvHttp, toApiError, type HttpFn } from './http';

export const GRAFANA_API_BASE = '/api/plugins/dataplane-aggregator-app/resources';

/** The field manager the UI's writes are recorded under (else the server takes the browser's User-Agent). */
const FIELD_MANAGER = { fieldManager: 'dpa-ui' };

export interface ClientOptions {
  /** Prefix before /apis/...: GRAFANA_API_BASE inside Grafana, '' when served by dpa itself. */
  base: string;
  http?: HttpFn;
}

export interface Watcher {
  stop(): void;
}

/** A small typed client for aggregation.grafana.app/v0alpha1 DataPlaneServices. */
export class DataPlaneServiceClient {
  readonly base: string;
  private readonly http: HttpFn;

  constructor(opts: ClientOptions) {
    this.base = opts.base.replace(/\/+$/, '');
    this.http = opts.http ?? backendSrvHttp;
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

  get(name: string): Promise<DataPlaneService> {
    return this.call({ method: 'GET', url: this.objectURL(name) });
  }

  create(obj: DataPlaneService): Promise<DataPlaneService> {
    return this.call({ method: 'POST', url: this.collectionURL(), data: obj, params: FIELD_MANAGER });
  }

  /** update replaces the object; obj.metadata.resourceVersion guards against lost updates (409). */
  update(obj: DataPlaneService): Promise<DataPlaneService> {
    return this.call({ method: 'PUT', url: this.objectURL(obj.metadata.name), data: obj, params: FIELD_MANAGER });
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
   * poll calls onData with a fresh list now and every intervalMs (a watch through Grafana's
   * resource proxy is not reliably streamed, so polling is the portable choice).
   */
  poll(
    onData: (list: DataPlaneServiceList) => void,
    onError: (err: unknown) => void,
    intervalMs = 5000
  ): Watcher {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const list = await this.list();
        if (!stopped) {
          onData(list);
        }
      } catch (e) {
        if (!stopped) {
          onError(e);
        }
      }
      if (!stopped) {
        timer = setTimeout(tick, intervalMs);
      }
    };
    tick();
    return {
      stop() {
        stopped = true;
        if (timer) {
          clearTimeout(timer);
        }
      },
    };
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
