import React from 'react';
import { act, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { of } from 'rxjs';
import { locationService, setBackendSrv, type BackendSrv } from '@grafana/runtime';
import type { AppPluginMeta, AppRootProps, PluginConfigPageProps } from '@grafana/data';
import { GrafanaApp } from '../components/GrafanaApp';
import { AppConfig, type AppJsonData } from '../components/AppConfig';
import { dps } from './harness';

function fakeBackendSrv(handler: (opts: { url: string; method?: string; data?: unknown }) => unknown) {
  const fetch = jest.fn((opts) => of({ status: 200, ok: true, data: handler(opts), headers: {}, config: opts }));
  setBackendSrv({ fetch } as unknown as BackendSrv);
  return fetch;
}

describe('inside Grafana', () => {
  it('routes with locationService and calls the plugin resource proxy', async () => {
    const fetch = fakeBackendSrv(({ url }) =>
      url.endsWith('/selfsubjectaccessreviews')
        ? { status: { allowed: false } }
        : url.endsWith('/dataplaneservices')
          ? { items: [dps('alpha-ds')], metadata: {} }
          : dps('alpha-ds')
    );
    act(() => locationService.push('/a/dataplane-aggregator-app/services'));
    render(<GrafanaApp {...({} as AppRootProps)} />);
    const link = await screen.findByRole('link', { name: 'alpha-ds' });
    expect(link).toHaveAttribute('href', '/a/dataplane-aggregator-app/services/alpha-ds');
    expect(fetch.mock.calls[0][0].url).toBe(
      '/api/plugins/dataplane-aggregator-app/resources/apis/aggregation.grafana.app/v0alpha1/dataplaneservices'
    );
    // The backend acts as the Grafana user; dpa's access reviews said no: no write buttons.
    await waitFor(() =>
      expect(fetch.mock.calls.filter((c) => String(c[0].url).endsWith('/selfsubjectaccessreviews'))).toHaveLength(3)
    );
    expect(screen.queryByRole('button', { name: 'Edit alpha-ds' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Delete alpha-ds' })).not.toBeInTheDocument();
    await userEvent.click(link);
    expect(locationService.getLocation().pathname).toBe('/a/dataplane-aggregator-app/services/alpha-ds');
    expect(await screen.findByRole('heading', { name: 'Spec' })).toBeInTheDocument();
  });
});

describe('inside Grafana, the fleet view', () => {
  it('keeps the filter in Grafana\'s URL and polls (no watch through the resource proxy)', async () => {
    const fetch = fakeBackendSrv(({ url }) =>
      url.endsWith('/selfsubjectaccessreviews')
        ? { status: { allowed: false } }
        : {
            items: [
              dps('ok-ds', {}, { conditions: [{ type: 'Registered', status: 'True', reason: 'RoutesRegistered', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] }),
              dps('bad-ds', {}, { conditions: [{ type: 'Registered', status: 'False', reason: 'Conflict', message: 'claimed', lastTransitionTime: '2026-01-01T00:00:00Z' }] }),
            ],
            metadata: {},
          }
    );
    act(() => locationService.push('/a/dataplane-aggregator-app?reason=Conflict'));
    render(<GrafanaApp {...({} as AppRootProps)} />);
    await screen.findByRole('link', { name: 'bad-ds' });
    expect(screen.queryByRole('link', { name: 'ok-ds' })).not.toBeInTheDocument();
    await userEvent.click(screen.getByLabelText(/^Ready 1$/));
    expect(locationService.getLocation().search).toBe('?status=Ready');
    expect(await screen.findByRole('link', { name: 'ok-ds' })).toBeInTheDocument();
    const lists = fetch.mock.calls.filter((c) => String(c[0].url).endsWith('/dataplaneservices'));
    expect(lists.length).toBeGreaterThan(0);
    expect(lists.every((c) => !c[0].params?.watch && !String(c[0].url).includes('watch'))).toBe(true);
  });
});

describe('inside Grafana, a user dpa lets write', () => {
  it('shows the write actions once the access reviews allow them', async () => {
    const fetch = fakeBackendSrv(({ url, data }) => {
      if (url.endsWith('/selfsubjectaccessreviews')) {
        const verb = (data as { spec: { resourceAttributes: { verb: string } } }).spec.resourceAttributes.verb;
        return { status: { allowed: ['create', 'update', 'delete'].includes(verb) } };
      }
      return url.endsWith('/dataplaneservices') ? { items: [dps('alpha-ds')], metadata: {} } : dps('alpha-ds');
    });
    act(() => locationService.push('/a/dataplane-aggregator-app/services'));
    render(<GrafanaApp {...({} as AppRootProps)} />);
    // (PluginPage's header actions need Grafana's chrome; the row actions render here.)
    expect(await screen.findByRole('button', { name: 'Edit alpha-ds' })).toBeInTheDocument();
    const review = fetch.mock.calls.find((c) => String(c[0].url).endsWith('/selfsubjectaccessreviews'))![0];
    expect(review.url).toBe('/api/plugins/dataplane-aggregator-app/resources/apis/authorization.k8s.io/v1/selfsubjectaccessreviews');
    expect(review.method).toBe('POST');
  });
});

describe('config page', () => {
  const meta = (secure: boolean) =>
    ({
      id: 'dataplane-aggregator-app',
      enabled: true,
      pinned: true,
      jsonData: { url: 'https://dpa.example:6443' },
      secureJsonFields: secure ? { token: true } : {},
    }) as unknown as AppPluginMeta<AppJsonData>;

  // window.location.reload() after saving is a no-op (logged) in jsdom.
  beforeEach(() => jest.spyOn(console, 'error').mockImplementation(() => {}));
  afterEach(() => jest.restoreAllMocks());

  it('keeps a configured token unless it is replaced', async () => {
    const fetch = fakeBackendSrv(() => ({}));
    render(<AppConfig {...({ plugin: { meta: meta(true) }, query: {} } as unknown as PluginConfigPageProps<AppPluginMeta<AppJsonData>>)} />);
    expect(screen.getByDisplayValue('configured')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(fetch).toHaveBeenCalled());
    const req = fetch.mock.calls[0][0];
    expect(req.url).toBe('/api/plugins/dataplane-aggregator-app/settings');
    expect(req.method).toBe('POST');
    expect(req.data.jsonData).toEqual({ url: 'https://dpa.example:6443', caCert: undefined, tlsSkipVerify: false });
    expect(req.data.secureJsonData).toBeUndefined();
  });

  it('sends a new token and validates the URL', async () => {
    const fetch = fakeBackendSrv(() => ({}));
    render(<AppConfig {...({ plugin: { meta: meta(false) }, query: {} } as unknown as PluginConfigPageProps<AppPluginMeta<AppJsonData>>)} />);
    const url = document.getElementById('config-url') as HTMLInputElement;
    await userEvent.clear(url);
    await userEvent.type(url, 'dpa.example');
    expect(screen.getByText(/Must be an http\(s\) URL/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Save settings' })).toBeDisabled();
    await userEvent.clear(url);
    await userEvent.type(url, 'https://dpa.internal:6443');
    await userEvent.type(document.getElementById('config-token') as HTMLInputElement, 'tok-123');
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(fetch).toHaveBeenCalled());
    expect(fetch.mock.calls[0][0].data.secureJsonData).toEqual({ token: 'tok-123' });
    expect(fetch.mock.calls[0][0].data.jsonData.url).toBe('https://dpa.internal:6443');
  });
});
