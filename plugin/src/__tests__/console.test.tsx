import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FakeServer, dps, renderApp, status, type Call } from './harness';
import { consoleEndpoints, consolePath, curlCommand, fillTemplate, namespacesOf } from '../api/console';
import { frameTable, queryResults } from '../api/frames';

const BASE = '/api/plugins/dataplane-aggregator-app/resources';
const G = 'alpha-ds.grafana.app';

/** The example datasource's query answer (captured from dpa with the table scenario). */
const QUERY_ANSWER = {
  results: {
    A: {
      status: 200,
      frames: [
        {
          schema: {
            name: 'table',
            refId: 'A',
            meta: { type: 'table', typeVersion: [0, 0] },
            fields: [
              { name: 'time', type: 'time', typeInfo: { frame: 'time.Time' } },
              { name: 'value', type: 'number', typeInfo: { frame: 'float64' }, labels: { series: 'walk' } },
              { name: 'string', type: 'string', typeInfo: { frame: 'string' } },
              { name: 'nullable', type: 'number', typeInfo: { frame: 'float64', nullable: true } },
            ],
          },
          data: {
            values: [
              [1700000000000, 1700000060000, 1700000120000],
              [1.5, null, 3],
              ['row-0', 'row-1', 'row-2'],
              [0, 0.5, null],
            ],
            entities: [null, { Inf: [1] }, null, null],
          },
        },
      ],
    },
    B: { status: 400, frames: [], error: 'scenario error requested with status 400', errorSource: 'downstream' },
  },
};

describe('console model', () => {
  const obj = dps('alpha-ds', {
    services: [
      { type: 'query' },
      { type: 'resource' },
      { type: 'health' },
      { type: 'stream' },
      { type: 'admission' },
      { type: 'route', method: 'GET', path: '/namespaces/{namespace}/datasources/{uid}/items/{id}' },
      { type: 'route', path: '/things' },
    ],
  });

  it('lists the endpoints of the declared services with scopes and methods', () => {
    const eps = consoleEndpoints(obj);
    expect(eps.map((e) => `${e.type} ${e.scope} ${e.methods.join('|')} ${e.template}`)).toEqual([
      `query datasource POST /apis/${G}/v0alpha1/namespaces/{namespace}/datasources/{uid}/query`,
      `query datasource POST /apis/${G}/v0alpha1/namespaces/{namespace}/connections/{uid}/query`,
      `resource datasource GET|POST|PUT|PATCH|DELETE /apis/${G}/v0alpha1/namespaces/{namespace}/datasources/{uid}/resource/{path...}`,
      `health datasource GET /apis/${G}/v0alpha1/namespaces/{namespace}/datasources/{uid}/health`,
      `stream datasource GET|POST /apis/${G}/v0alpha1/namespaces/{namespace}/datasources/{uid}/stream/{path...}`,
      `admission global POST /apis/${G}/v0alpha1/admission/validate`,
      `admission global POST /apis/${G}/v0alpha1/admission/mutate`,
      `route datasource GET /apis/${G}/v0alpha1/namespaces/{namespace}/datasources/{uid}/items/{id}`,
      `route global GET|POST|PUT|PATCH|DELETE /apis/${G}/v0alpha1/things`,
    ]);
    const app = dps('beta-app', { pluginType: 'app', services: [{ type: 'resource' }, { type: 'query' }] });
    expect(consoleEndpoints(app).map((e) => `${e.scope} ${e.template}`)).toEqual(['namespace /apis/beta-app.grafana.app/v0alpha1/namespaces/{namespace}/resource/{path...}']);
  });

  it('fills in the real namespace and uid, and leaves the rest to the user', () => {
    const t = { namespace: 'org-2', uid: 'my ds' };
    const [query, , resource] = consoleEndpoints(obj);
    expect(fillTemplate(query.template, t)).toEqual({ prefix: `/apis/${G}/v0alpha1/namespaces/org-2/datasources/my%20ds/query`, suffix: '' });
    const r = fillTemplate(resource.template, t);
    expect(r).toEqual({ prefix: `/apis/${G}/v0alpha1/namespaces/org-2/datasources/my%20ds/resource/`, suffix: '' });
    expect(consolePath(r.prefix, '/echo?x=1', resource)).toEqual({ path: `/apis/${G}/v0alpha1/namespaces/org-2/datasources/my%20ds/resource/echo?x=1` });
    const item = consoleEndpoints(obj).find((e) => e.template.endsWith('{id}'))!;
    const it = fillTemplate(item.template, t);
    expect(it.suffix).toBe('{id}');
    expect(consolePath(it.prefix, it.suffix, item).error).toBe('Replace {id} in the path');
    expect(consolePath(it.prefix, '42', item)).toEqual({ path: `/apis/${G}/v0alpha1/namespaces/org-2/datasources/my%20ds/items/42` });
    const stream = consoleEndpoints(obj).find((e) => e.type === 'stream')!;
    expect(consolePath(fillTemplate(stream.template, t).prefix, '', stream).error).toMatch(/channel/);
  });

  it('writes curl with a $TOKEN placeholder and shell-safe quoting', () => {
    const c = curlCommand({ method: 'POST', url: 'https://dpa:6443/apis/g/v/namespaces/default/datasources/x/query', body: `{"q":"it's"}` });
    expect(c).toBe(
      [
        'curl -sk',
        '-X POST',
        `'https://dpa:6443/apis/g/v/namespaces/default/datasources/x/query'`,
        '-H "Authorization: Bearer $TOKEN"',
        `-H 'Content-Type: application/json'`,
        `--data-raw '{"q":"it'\\''s"}'`,
      ].join(' \\\n  ')
    );
    expect(curlCommand({ method: 'GET', url: 'https://dpa/x', body: '{}' })).not.toContain('--data-raw');
    expect(curlCommand({ method: 'GET', url: 'https://dpa/s', stream: true })).toMatch(/^curl -skN/);
  });

  it('derives namespaces from org-role groups', () => {
    expect(namespacesOf(['grafana:org:3:Editor', 'grafana:org:1:Viewer', 'team-a', 'system:authenticated'])).toEqual({ serverAdmin: false, namespaces: ['default', 'org-3'] });
    expect(namespacesOf(['system:masters', 'system:authenticated'])).toEqual({ serverAdmin: true, namespaces: ['default'] });
    expect(namespacesOf(['team-a'])).toEqual({ serverAdmin: false, namespaces: [] });
  });

  it('renders frames as tables: times, labels, nulls and entities', () => {
    const rs = queryResults(QUERY_ANSWER);
    expect(rs.map((r) => [r.refId, r.status, r.frames.length, r.error])).toEqual([
      ['A', 200, 1, undefined],
      ['B', 400, 0, 'scenario error requested with status 400'],
    ]);
    const t = frameTable(rs[0].frames[0]);
    expect(t.name).toBe('table');
    expect(t.columns).toEqual(['time', 'value {series="walk"}', 'string', 'nullable']);
    expect(t.rows).toEqual([
      ['2023-11-14T22:13:20.000Z', '1.5', 'row-0', '0'],
      ['2023-11-14T22:14:20.000Z', '+Inf', 'row-1', '0.5'],
      ['2023-11-14T22:15:20.000Z', '3', 'row-2', 'null'],
    ]);
    expect(frameTable({ schema: { name: 'nofields', fields: [] }, data: { values: [] } }).rows).toEqual([]);
  });
});

// --- The detail page against a fake dpa ----------------------------------------------------

function metricsText(query200: number, query500: number, fast: number) {
  const b = (le: string, n: number) =>
    `dpa_dataplane_request_duration_seconds_bucket{code="200",group="${G}",type="query",version="v0alpha1",le="${le}"} ${n}`;
  return [
    '# TYPE dpa_dataplane_requests_total counter',
    `dpa_dataplane_requests_total{code="200",group="${G}",type="query",version="v0alpha1"} ${query200}`,
    `dpa_dataplane_requests_total{code="500",group="${G}",type="query",version="v0alpha1"} ${query500}`,
    '# TYPE dpa_dataplane_request_duration_seconds histogram',
    b('0.001', fast),
    b('0.01', query200),
    b('+Inf', query200),
  ].join('\n');
}

interface Who {
  groups: string[];
  metrics: boolean;
  /** uids the user may query */
  query: string[];
}

function dpaFake(server: FakeServer, who: Who) {
  let scrapes = 0;
  server.overrides.push((call: Call) => {
    const path = call.url.replace(BASE, '');
    if (path === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      return { status: 201, body: { kind: 'SelfSubjectReview', status: { userInfo: { username: 'u', groups: who.groups } } } };
    }
    if (path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      const spec = (call.body as { spec: { nonResourceAttributes?: { path: string }; resourceAttributes?: { resource: string; subresource?: string; name?: string; verb: string } } }).spec;
      if (spec.nonResourceAttributes) {
        return { status: 201, body: { status: who.metrics ? { allowed: true } : { allowed: false, denied: true, reason: '/metrics needs a server admin or group system:monitoring' } } };
      }
      const ra = spec.resourceAttributes!;
      if (ra.resource === 'datasources' && ra.subresource === 'query') {
        const ok = who.query.includes(ra.name!);
        return { status: 201, body: { status: ok ? { allowed: true } : { allowed: false, reason: `User "u" cannot create datasource "${ra.name}": needs datasources:query` } } };
      }
      return { status: 201, body: { status: { allowed: ra.verb === 'create' ? false : true } } };
    }
    if (path === `/apis/${G}/v0alpha1/namespaces/default/datasources`) {
      return {
        status: 200,
        body: {
          kind: 'DataSourceList',
          items: [
            { metadata: { name: 'ds1', namespace: 'default' }, spec: { title: 'First' } },
            { metadata: { name: 'secret', namespace: 'default' }, spec: { title: 'Locked' } },
          ],
        },
      };
    }
    if (path === `/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/health`) {
      return { status: 200, body: { kind: 'HealthCheckResult', status: 'OK', message: 'datasource "First" is working', code: 200 } };
    }
    if (path === `/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query`) {
      return { status: 200, body: QUERY_ANSWER };
    }
    if (path.startsWith(`/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/resource/`)) {
      return { status: 403, body: status(403, 'Forbidden', 'User "u" cannot call datasource "ds1" in namespace "default": needs datasources:query') };
    }
    if (path === '/metrics') {
      if (!who.metrics) {
        return { status: 403, body: status(403, 'Forbidden', 'forbidden') };
      }
      scrapes++;
      return { status: 200, body: scrapes === 1 ? metricsText(10, 0, 10) : metricsText(40, 10, 20) };
    }
    return undefined;
  });
}

const svc = () =>
  dps('alpha-ds', {
    services: [{ type: 'query' }, { type: 'health' }, { type: 'resource' }, ...Array.from({ length: 3 }, (_, i) => ({ type: 'route' as const, method: 'GET' as const, path: `/namespaces/{namespace}/datasources/{uid}/r${i}/{id}` }))],
  });

describe('request console on the detail page', () => {
  it('tests a datasource, sends a query with the real namespace and uid, renders frames and a token-free curl', async () => {
    const server = new FakeServer([svc()]);
    dpaFake(server, { groups: ['grafana:org:1:Editor'], metrics: false, query: ['ds1'] });
    renderApp(server, '/services/alpha-ds', false);
    const row = await screen.findByTestId('target-default/ds1');
    expect(within(row).getByText('First')).toBeInTheDocument();
    // The datasource the user may not query is listed without a Test button, with the server's reason.
    const locked = await screen.findByTestId('target-default/secret');
    expect(within(locked).queryByRole('button', { name: /Test/ })).not.toBeInTheDocument();
    expect(within(locked).getByText(/needs datasources:query/)).toBeInTheDocument();

    await userEvent.click(within(row).getByRole('button', { name: 'Test default/ds1' }));
    expect(await screen.findByTestId('health-default/ds1')).toHaveTextContent('OK — datasource "First" is working');
    expect(server.requests('GET', `${BASE}/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/health`)).toHaveLength(1);

    // The console starts on the query endpoint of the first datasource the user may query.
    const prefix = await screen.findByTestId('console-prefix');
    expect(prefix).toHaveTextContent(`/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query`);
    expect(prefix.textContent).not.toContain('{');
    const body = screen.getByLabelText('Request body') as HTMLTextAreaElement;
    expect(JSON.parse(body.value).queries).toEqual([{ refId: 'A', datasource: { type: 'alpha-ds', uid: 'ds1' } }]);
    const curl = screen.getByTestId('console-curl').textContent!;
    expect(curl).toContain(`'http://localhost/api/plugins/dataplane-aggregator-app/resources/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query'`);
    expect(curl).toContain('-H "Authorization: Bearer $TOKEN"');
    expect(curl).not.toMatch(/Cookie|dpa_session|X-DPA-CSRF/i);

    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByTestId('console-status')).toHaveTextContent('HTTP 200');
    const post = server.requests('POST', '/query');
    expect(post).toHaveLength(1);
    expect(post[0].url).toBe(`${BASE}/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query`);
    expect(post[0].body).toEqual(JSON.parse(body.value));
    expect(post[0].headers['Content-Type']).toBe('application/json');
    expect(post[0].headers['X-DPA-CSRF']).toBe('1');
    const table = screen.getByRole('table', { name: 'Frame table of A' });
    expect(within(table).getAllByRole('row')).toHaveLength(4); // header + 3 rows
    expect(within(table).getByText('value {series="walk"}')).toBeInTheDocument();
    expect(within(table).getByText('+Inf')).toBeInTheDocument();
    expect(within(screen.getByTestId('result-B')).getByText(/scenario error requested/)).toBeInTheDocument();
    expect(screen.getByTestId('console-latency')).toHaveTextContent(/\d+ ms/);
  });

  it('shows the server 403 message of a refused call', async () => {
    const server = new FakeServer([svc()]);
    dpaFake(server, { groups: ['grafana:org:1:Viewer'], metrics: false, query: ['ds1'] });
    renderApp(server, '/services/alpha-ds', false);
    await screen.findByTestId('console-prefix');
    await userEvent.click(screen.getByLabelText('Endpoint'));
    await userEvent.click(await screen.findByText(/^resource · ANY/));
    await waitFor(() => expect(screen.getByTestId('console-prefix')).toHaveTextContent(/\/datasources\/ds1\/resource\/$/));
    await userEvent.type(screen.getByLabelText('Path suffix'), 'echo?x=1');
    expect(screen.getByTestId('console-curl')).toHaveTextContent('/datasources/ds1/resource/echo?x=1');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByTestId('console-status-message')).toHaveTextContent('User "u" cannot call datasource "ds1"');
    expect(screen.getByTestId('console-status')).toHaveTextContent('HTTP 403');
    expect(server.requests('GET', '/resource/echo?x=1')).toHaveLength(1);
  });
});

describe('per-service metrics', () => {
  it('shows rate, 5xx ratio and p95 beside each service for a server admin', async () => {
    const server = new FakeServer([svc()]);
    dpaFake(server, { groups: ['system:masters'], metrics: true, query: ['ds1', 'secret'] });
    renderApp(server, '/services/alpha-ds');
    // Two samples 3 s apart: 30 + 10 requests in ~3 s, 10 of them 500s; p95 from the buckets.
    const cell = await screen.findByTestId('metrics-query', {}, { timeout: 8000 });
    const rate = Number(within(cell).getByTestId('metrics-rate').textContent!.replace('/s', ''));
    expect(rate).toBeGreaterThan(10);
    expect(rate).toBeLessThan(14);
    expect(within(cell).getByTestId('metrics-errors')).toHaveTextContent('25.0% 5xx');
    // window buckets: ≤1ms 10, ≤10ms 30, +Inf 30 (200s only) → rank 28.5 of 30 in (1, 10] ms:
    // 1 ms + 9 ms * (28.5 - 10) / (30 - 10) = 9.325 ms
    expect(within(cell).getByTestId('metrics-p95')).toHaveTextContent(/^p95 9\.3[23] ms$/);
    expect(screen.getByRole('columnheader', { name: 'Traffic' })).toBeInTheDocument();
    expect(screen.getByTestId('metrics-health')).toHaveTextContent('0/s');
    expect(server.requests('GET', '/metrics').length).toBeGreaterThanOrEqual(2);
    expect(server.requests('GET', '/metrics')[0].headers.Accept).toBeDefined();
  });

  it('shows no metrics (a short hint, no error, no /metrics request) to a Viewer', async () => {
    const server = new FakeServer([svc()]);
    dpaFake(server, { groups: ['grafana:org:1:Viewer'], metrics: false, query: ['ds1'] });
    renderApp(server, '/services/alpha-ds', false);
    expect(await screen.findByTestId('metrics-hint')).toHaveTextContent('needs a server admin');
    await act(() => new Promise((r) => setTimeout(r, 3500)));
    expect(screen.queryByRole('columnheader', { name: 'Traffic' })).not.toBeInTheDocument();
    expect(screen.queryByTestId('metrics-query')).not.toBeInTheDocument();
    expect(server.requests('GET', '/metrics')).toHaveLength(0);
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });
});
