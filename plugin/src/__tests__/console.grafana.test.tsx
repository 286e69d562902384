import React from 'react';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { of, throwError } from 'rxjs';
import { locationService, setBackendSrv, type BackendSrv } from '@grafana/runtime';
import type { AppRootProps } from '@grafana/data';
import { GrafanaApp } from '../components/GrafanaApp';
import { dps } from './harness';

const BASE = '/api/plugins/dataplane-aggregator-app/resources';
const G = 'alpha-ds.grafana.app';

type Opts = { url: string; method?: string; data?: unknown };

/** Grafana's BackendSrv as the app sees it: every call goes to the plugin's resource proxy. */
function grafanaBackend(opts: { metricsAllowed: boolean }) {
  const fetch = jest.fn((o: Opts) => {
    const path = o.url.replace(BASE, '');
    const ok = (data: unknown, status = 200) => of({ status, ok: true, data, headers: new Headers({ 'content-type': 'application/json' }), config: o });
    if (!o.url.startsWith(BASE)) {
      return throwError(() => ({ status: 404, data: { message: 'not found' }, config: o }));
    }
    if (path === '/metrics') {
      // The app plugin's backend proxies /apis/... only.
      return throwError(() => ({ status: 404, data: { kind: 'Status', code: 404, message: 'the plugin only proxies /apis/..., not /metrics' }, config: o }));
    }
    if (path.endsWith('/selfsubjectreviews')) {
      // The backend impersonates the Grafana user with its org role.
      return ok({ status: { userInfo: { username: 'grafana-user', groups: ['grafana:org:1:Viewer', 'system:authenticated'] } } }, 201);
    }
    if (path.endsWith('/selfsubjectaccessreviews')) {
      const spec = (o.data as { spec: { nonResourceAttributes?: unknown; resourceAttributes?: { subresource?: string } } }).spec;
      if (spec.nonResourceAttributes) {
        return ok({ status: opts.metricsAllowed ? { allowed: true } : { allowed: false, reason: '/metrics needs a server admin or group system:monitoring' } }, 201);
      }
      return ok({ status: { allowed: spec.resourceAttributes?.subresource === 'query' } }, 201);
    }
    if (path === `/apis/${G}/v0alpha1/namespaces/default/datasources`) {
      return ok({ items: [{ metadata: { name: 'ds1' }, spec: { title: 'First' } }] });
    }
    if (path.endsWith('/datasources/ds1/health')) {
      return ok(JSON.stringify({ kind: 'HealthCheckResult', status: 'OK', message: 'fine', code: 200 }));
    }
    if (path.endsWith('/datasources/ds1/query')) {
      return ok(
        JSON.stringify({
          results: { A: { status: 200, frames: [{ schema: { name: 'f', fields: [{ name: 'v', type: 'number' }] }, data: { values: [[1, 2]] } }] } },
        })
      );
    }
    if (path.endsWith('/dataplaneservices/alpha-ds')) {
      return ok(dps('alpha-ds', { services: [{ type: 'query' }, { type: 'health' }] }));
    }
    return throwError(() => ({ status: 404, data: { kind: 'Status', code: 404, message: `no ${path}` }, config: o }));
  });
  setBackendSrv({ fetch } as unknown as BackendSrv);
  return fetch;
}

describe('console and metrics inside Grafana', () => {
  it('calls through the resource proxy with the real namespace and uid; no metrics for the Grafana user', async () => {
    const fetch = grafanaBackend({ metricsAllowed: false });
    act(() => locationService.push('/a/dataplane-aggregator-app/services/alpha-ds'));
    render(<GrafanaApp {...({} as AppRootProps)} />);
    const row = await screen.findByTestId('target-default/ds1');
    await userEvent.click(within(row).getByRole('button', { name: 'Test default/ds1' }));
    expect(await screen.findByTestId('health-default/ds1')).toHaveTextContent('OK — fine');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByTestId('console-status')).toHaveTextContent('HTTP 200');
    const q = fetch.mock.calls.map((c) => c[0]).find((o) => o.url.endsWith('/query'))!;
    expect(q.url).toBe(`${BASE}/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query`);
    expect(q.method).toBe('POST');
    expect(within(screen.getByRole('table', { name: 'Frame f of A' })).getAllByRole('row')).toHaveLength(3);
    // Without the app's settings at hand, curl targets Grafana's proxy (with a Grafana token).
    const curl = screen.getByTestId('console-curl').textContent!;
    expect(curl).toContain(`'http://localhost${BASE}/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query'`);
    expect(curl).toContain('$TOKEN');
    // Metrics: the access review said no, so /metrics is never asked for and no error shows.
    expect(await screen.findByTestId('metrics-hint')).toBeInTheDocument();
    expect(fetch.mock.calls.filter((c) => c[0].url.endsWith('/metrics'))).toHaveLength(0);
    expect(screen.queryByRole('columnheader', { name: 'Traffic' })).not.toBeInTheDocument();
  });

  it('shows nothing (and no error) when /metrics cannot be read through the proxy', async () => {
    const fetch = grafanaBackend({ metricsAllowed: true });
    act(() => locationService.push('/a/dataplane-aggregator-app/services/alpha-ds'));
    render(<GrafanaApp {...({} as AppRootProps)} />);
    await screen.findByTestId('target-default/ds1');
    await waitFor(() => expect(fetch.mock.calls.filter((c) => c[0].url === `${BASE}/metrics`)).toHaveLength(1));
    await act(() => new Promise((r) => setTimeout(r, 100)));
    expect(screen.queryByRole('columnheader', { name: 'Traffic' })).not.toBeInTheDocument();
    expect(screen.queryByTestId('metrics-hint')).not.toBeInTheDocument();
    expect(screen.queryByText(/only proxies/)).not.toBeInTheDocument();
  });
});
