import React from 'react';
import { render } from '@testing-library/react';
import { DataPlaneServiceClient } from '../api/client';
import { backendSrvHttp } from '../api/http';
import { EnvProvider, NavProvider, useMemoryNav, type Nav } from '../context';
import { Routes } from '../components/App';
import { setBackendSrv } from '@grafana/runtime';
import { createFetchBackendSrv } from '../standalone/backendSrv';
import type { DataPlaneService } from '../api/types';
import type { InstalledPlugin, ReplicaStatus } from '../api/plugins';

export interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** An answer; with wait, it comes once wait resolves (unless the request is aborted first). */
export type Reply = { status: number; body?: unknown; wait?: Promise<unknown> };
type Override = (call: Call) => Reply | undefined;

/**
 * A fake aggregator behind the fetch layer: every request goes through the real client, the
 * real Grafana-style backendSrv (the standalone one) and ends here, where it is recorded.
 */
export class FakeServer {
  calls: Call[] = [];
  /** Calls whose request was aborted (by the UI) while their answer was awaited. */
  aborted: Call[] = [];
  objects = new Map<string, DataPlaneService>();
  overrides: Override[] = [];
  /** The Plugin resource's objects (installed plugins). */
  plugins: InstalledPlugin[] = [];
  private rv = 100;

  constructor(objs: DataPlaneService[] = []) {
    objs.forEach((o) => this.objects.set(o.metadata.name, o));
  }

  fetch = jest.fn(async (url: string, init: RequestInit) => {
    const call: Call = {
      method: (init.method ?? 'GET').toUpperCase(),
      url,
      headers: (init.headers ?? {}) as Record<string, string>,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    this.calls.push(call);
    let reply: Reply | undefined;
    for (const o of this.overrides) {
      reply = o(call);
      if (reply) {
        break;
      }
    }
    reply = reply ?? this.handle(call);
    if (reply.wait) {
      const signal = init.signal;
      await new Promise((resolve, reject) => {
        if (signal?.aborted) {
          reject(new DOMException('The operation was aborted.', 'AbortError'));
          return;
        }
        signal?.addEventListener('abort', () => {
          this.aborted.push(call);
          reject(new DOMException('The operation was aborted.', 'AbortError'));
        });
        reply!.wait!.then(resolve, reject);
      });
    }
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    return {
      ok: reply.status >= 200 && reply.status < 300,
      status: reply.status,
      statusText: String(reply.status),
      headers: { get: (k: string) => (k.toLowerCase() === 'content-type' ? 'application/json' : null) },
      text: async () => text,
      redirected: false,
      type: 'basic',
      url,
    } as unknown as Response;
  });

  requests(method: string, urlPart = ''): Call[] {
    return this.calls.filter((c) => c.method === method && c.url.includes(urlPart));
  }

  private handle(call: Call): Reply {
    if (/\/apis\/aggregation\.grafana\.app\/v0alpha1\/plugins$/.test(call.url.split('?')[0]) && call.method === 'GET') {
      return { status: 200, body: { items: this.plugins, metadata: { resourceVersion: '1' } } };
    }
    const m = call.url.match(/\/apis\/aggregation\.grafana\.app\/v0alpha1\/dataplaneservices(?:\/([^?]+))?/);
    if (!m) {
      return { status: 404, body: status(404, 'NotFound', 'no route') };
    }
    const name = m[1] ? decodeURIComponent(m[1]) : undefined;
    if (!name) {
      if (call.method === 'GET') {
        return { status: 200, body: { items: [...this.objects.values()], metadata: { resourceVersion: String(this.rv) } } };
      }
      if (call.method === 'POST') {
        const o = JSON.parse(JSON.stringify(call.body)) as DataPlaneService;
        o.metadata.creationTimestamp = new Date().toISOString();
        if (call.url.includes('dryRun=All')) {
          return { status: 201, body: o };
        }
        o.metadata.resourceVersion = String(++this.rv);
        this.objects.set(o.metadata.name, o);
        return { status: 201, body: o };
      }
    }
    const cur = name ? this.objects.get(name) : undefined;
    if (!cur) {
      return { status: 404, body: status(404, 'NotFound', `dataplaneservices "${name}" not found`) };
    }
    switch (call.method) {
      case 'GET':
        return { status: 200, body: cur };
      case 'PUT': {
        const o = JSON.parse(JSON.stringify(call.body)) as DataPlaneService;
        if (o.metadata.resourceVersion !== cur.metadata.resourceVersion) {
          return { status: 409, body: status(409, 'Conflict', 'the object has been modified') };
        }
        if (call.url.includes('dryRun=All')) {
          return { status: 200, body: o };
        }
        o.metadata.resourceVersion = String(++this.rv);
        this.objects.set(name!, o);
        return { status: 200, body: o };
      }
      case 'DELETE':
        this.objects.delete(name!);
        return { status: 200, body: { kind: 'Status', status: 'Success' } };
    }
    return { status: 405, body: status(405, 'MethodNotAllowed', '') };
  }
}

export function status(code: number, reason: string, message: string, causes?: Array<{ field: string; message: string; reason?: string }>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason,
    message,
    details: causes ? { name: 'x', group: 'aggregation.grafana.app', kind: 'DataPlaneService', causes } : undefined,
  };
}

export function dps(name: string, over: Partial<DataPlaneService['spec']> = {}, conditions?: DataPlaneService['status']): DataPlaneService {
  return {
    apiVersion: 'aggregation.grafana.app/v0alpha1',
    kind: 'DataPlaneService',
    metadata: { name, resourceVersion: '1', generation: 1, creationTimestamp: new Date(Date.now() - 3 * 3600_000).toISOString() },
    spec: { pluginID: name, pluginType: 'datasource', group: `${name}.grafana.app`, version: 'v0alpha1', services: [{ type: 'query' }], ...over },
    status: conditions,
  };
}

export let currentNav: Nav | undefined;

function NavHarness({ path, children }: { path: string; children: React.ReactNode }) {
  const nav = useMemoryNav(path);
  currentNav = nav;
  return <NavProvider value={nav}>{children}</NavProvider>;
}

export function renderApp(server: FakeServer, path = '/', canWrite = true) {
  setBackendSrv(createFetchBackendSrv({ fetchImpl: server.fetch as unknown as typeof fetch }));
  const client = new DataPlaneServiceClient({ base: '/api/plugins/dataplane-aggregator-app/resources', http: backendSrvHttp });
  return render(
    <EnvProvider value={{ client, chrome: 'standalone', canWrite }}>
      <NavHarness path={path}>
        <Routes />
      </NavHarness>
    </EnvProvider>
  );
}

/** An installed plugin as dpa's Plugin resource reports it, on one replica. */
export function installedPlugin(
  id: string,
  type: 'datasource' | 'app',
  replica: Partial<ReplicaStatus> = {}
): InstalledPlugin {
  return {
    apiVersion: 'aggregation.grafana.app/v0alpha1',
    kind: 'Plugin',
    metadata: { name: id, creationTimestamp: new Date(Date.now() - 2 * 3600_000).toISOString() },
    spec: { id, type, name: id.replace(/-/g, ' '), version: '1.2.3', backend: true },
    status: {
      replicas: [
        {
          replica: 'a',
          version: '1.2.3',
          phase: 'Running',
          running: true,
          restarts: 0,
          services: ['pluginv2.Data', 'pluginv2.Diagnostics', 'pluginv2.Resource'],
          ...replica,
        },
      ],
    },
  };
}
