import { createFetchBackendSrv } from '../standalone/backendSrv';
import fs from 'fs';
import path from 'path';
import { validateRoutePath, validateSpec, validateServices, cleanServices } from '../api/validation';
import { concreteURLs, age } from '../api/urls';
import { ApiError, causesByField, normalizeField } from '../api/errors';
import { toYAML } from '../api/yaml';
import { newDataPlaneService } from '../api/types';

describe('validation mirrors the server rules', () => {
  it.each([
    ['/things', undefined],
    ['/things/{name}', undefined],
    ['/things/{name}/sub/{rest...}', undefined],
    ['/', undefined],
    ['', 'Path is required for a route'],
    ['things', 'Path must start with "/"'],
    ['/a/{rest...}/b', 'A {name...} catch-all is only allowed as the last segment'],
    ['/a/{}', 'Placeholder "{}" must be {name} or {name...} with an identifier name'],
    ['/a/{p-q}', 'Placeholder "{p-q}" must be {name} or {name...} with an identifier name'],
    ['/a/x{y}', 'Segment "x{y}": a placeholder must fill the whole segment'],
    ['/a/', 'Path must not end with "/"'],
    ['/a//b', 'Path must not contain empty segments (//)'],
    ['/a/../b', 'Path must not contain "." or ".." segments'],
    ['/a?x=1', 'Path must not contain a query or fragment'],
    ['/a/{id}/b/{id}', 'Placeholder {id} is used twice'],
    ['/a/{id}/b/{id...}', 'Placeholder {id} is used twice'],
  ])('route path %p', (p, want) => {
    expect(validateRoutePath(p)).toBe(want);
  });

  it('checks spec fields', () => {
    expect(validateSpec({ pluginID: 'a--b', pluginType: 'panel', group: '-x.com', version: 'V1', services: [] })).toEqual({
      'spec.pluginID': expect.any(String),
      'spec.pluginType': 'Plugin type must be "app" or "datasource"',
      'spec.group': expect.any(String),
      'spec.version': expect.any(String),
      'spec.services': 'Add at least one service',
    });
    expect(validateSpec({ pluginID: 'grafana-testdata-datasource', pluginType: 'datasource', group: 'testdata.grafana.app', version: 'v0alpha1', services: [{ type: 'query' }] })).toEqual({});
  });

  it('rejects method/path outside routes and duplicates', () => {
    expect(validateServices([{ type: 'query', method: 'GET' }])).toEqual({ 'spec.services[0].method': 'Method applies to "route" services only' });
    expect(validateServices([{ type: 'health', path: '/x' }])).toEqual({ 'spec.services[0].path': 'Path applies to "route" services only' });
    expect(
      validateServices([
        { type: 'route', method: 'GET', path: '/a' },
        { type: 'route', method: 'POST', path: '/a' },
        { type: 'route', method: 'GET', path: '/a' },
      ])
    ).toEqual({ 'spec.services[2].type': 'Duplicate of service #1' });
    expect(cleanServices([{ type: 'query', method: 'GET', path: '/x' }, { type: 'route', method: '', path: '/y' }])).toEqual([
      { type: 'query' },
      { type: 'route', path: '/y' },
    ]);
  });
});

describe('errors', () => {
  it('normalizes field paths and groups causes', () => {
    expect(normalizeField('spec.services.1.path')).toBe('spec.services[1].path');
    const e = new ApiError(422, {
      kind: 'Status',
      code: 422,
      reason: 'Invalid',
      message: 'bad',
      details: { causes: [{ field: 'spec.group', message: 'a' }, { field: 'spec.group', message: 'b' }, { message: 'c' }] },
    });
    expect(e.isInvalid).toBe(true);
    expect(causesByField(e)).toEqual({ 'spec.group': 'a; b', '': 'c' });
    expect(new ApiError(409, { kind: 'Status', reason: 'AlreadyExists' }).isAlreadyExists).toBe(true);
    expect(new ApiError(409, { kind: 'Status', reason: 'Conflict' }).isConflict).toBe(true);
  });
});

describe('concrete URLs', () => {
  const obj = newDataPlaneService('x', { group: 'g.grafana.app', version: 'v1' });
  it('follows the aggregator layout', () => {
    expect(concreteURLs(obj, { type: 'query' })).toEqual([
      { method: 'POST', path: '/apis/g.grafana.app/v1/namespaces/{namespace}/datasources/{uid}/query' },
      { method: 'POST', path: '/apis/g.grafana.app/v1/namespaces/{namespace}/connections/{uid}/query' },
    ]);
    // App plugins: per-namespace paths, never a datasource's.
    const app = { ...obj, spec: { ...obj.spec, pluginType: 'app' as const } };
    expect(concreteURLs(app, { type: 'resource' })).toEqual([{ method: 'ANY', path: '/apis/g.grafana.app/v1/namespaces/{namespace}/resource/{path...}' }]);
    expect(concreteURLs(app, { type: 'stream' })).toEqual([{ method: 'GET, POST', path: '/apis/g.grafana.app/v1/namespaces/{namespace}/stream/{path...}' }]);
    expect(concreteURLs(app, { type: 'query' })).toEqual([]);
    expect(concreteURLs({ ...obj, spec: { ...obj.spec, pluginType: 'app' } }, { type: 'health' })[0].path).toBe('/apis/g.grafana.app/v1/namespaces/{namespace}/health');
    expect(concreteURLs(obj, { type: 'route', method: 'PUT', path: '/things/{name}' })).toEqual([{ method: 'PUT', path: '/apis/g.grafana.app/v1/things/{name}' }]);
    expect(concreteURLs(obj, { type: 'admission' }).map((u) => u.path)).toEqual(['/apis/g.grafana.app/v1/admission/validate', '/apis/g.grafana.app/v1/admission/mutate']);
    expect(concreteURLs(obj, { type: 'datasource-proxy' })[0].path).toBe('/apis/g.grafana.app/v1/namespaces/{namespace}/datasources/{uid}/proxy/{path...}');
  });
  it('formats ages like kubectl', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(age('2026-01-01T23:59:30Z', now)).toBe('30s');
    expect(age('2026-01-01T23:00:00Z', now)).toBe('60m');
    expect(age('2025-12-30T00:00:00Z', now)).toBe('3d');
  });
  it('renders YAML', () => {
    expect(toYAML(obj)).toContain('kind: DataPlaneService\n');
    expect(toYAML(obj)).toContain('  group: g.grafana.app\n');
  });
});

describe('plugin.json', () => {
  const pj = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'plugin.json'), 'utf8'));
  it('satisfies the plugin validator rules we can check here', () => {
    expect(pj.id).toMatch(/^[0-9a-z]+-([0-9a-z]+-)?app$/);
    expect(pj.type).toBe('app');
    expect(pj.backend).toBe(true);
    expect(pj.executable).toBe('gpx_dataplane_aggregator_app');
    expect(pj.info.version).toBe('%VERSION%');
    expect(pj.info.updated).toBe('%TODAY%');
    expect(pj.info.keywords.length).toBeGreaterThan(0);
    expect(pj.dependencies.grafanaDependency).toBe('>=11.0.0');
    for (const inc of pj.includes.filter((i: { type: string; path?: string }) => i.type === 'page' && i.path?.startsWith('/a/'))) {
      expect(inc.path).toMatch(/^\/a\/%PLUGIN_ID%\//);
    }
    expect(fs.existsSync(path.join(__dirname, '..', pj.info.logos.small))).toBe(true);
  });
});

describe('standalone BackendSrv', () => {
  it('fails a request that never answers instead of waiting forever', async () => {
    jest.useFakeTimers();
    try {
      const never = jest.fn(() => new Promise<Response>(() => {}));
      const srv = createFetchBackendSrv({ fetchImpl: never as unknown as typeof fetch, timeoutMs: 5000 });
      const p = srv.request({ url: '/apis/x', method: 'GET' });
      jest.advanceTimersByTime(5001);
      await expect(p).rejects.toMatchObject({ status: 0, statusText: 'The server did not answer within 5 s' });
    } finally {
      jest.useRealTimers();
    }
  });
});
