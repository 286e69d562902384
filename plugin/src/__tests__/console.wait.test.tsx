// The request console waits for the server (no client limit), can be cancelled, brings the
// answer into view, warns when the service is not available, and tells a failed stream apart.
import React from 'react';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FakeServer, dps, renderApp, status, type Call, type Reply } from './harness';
import { emptyConsoleText, listenStream, streamErrorOf, unavailable, type ConsoleResponse } from '../api/console';
import { ResponseView } from '../components/RequestConsole';
import { createFetchBackendSrv } from '../standalone/backendSrv';

const BASE = '/api/plugins/dataplane-aggregator-app/resources';
const G = 'alpha-ds.grafana.app';
const QUERY = `/apis/${G}/v0alpha1/namespaces/default/datasources/ds1/query`;

/** A dpa with one datasource ds1 in default that the user may query; query answers come from onQuery. */
function fakeDpa(server: FakeServer, onQuery: (call: Call) => Reply) {
  server.overrides.push((call) => {
    const path = call.url.replace(BASE, '');
    if (path === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      return { status: 201, body: { status: { userInfo: { username: 'u', groups: ['grafana:org:1:Editor'] } } } };
    }
    if (path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      const spec = (call.body as { spec: { nonResourceAttributes?: unknown } }).spec;
      return { status: 201, body: { status: { allowed: !spec.nonResourceAttributes } } };
    }
    if (path === `/apis/${G}/v0alpha1/namespaces/default/datasources`) {
      return { status: 200, body: { items: [{ metadata: { name: 'ds1' }, spec: { title: 'First' } }] } };
    }
    if (path === QUERY) {
      return onQuery(call);
    }
    if (path === '/metrics') {
      return { status: 403, body: status(403, 'Forbidden', 'forbidden') };
    }
    return undefined;
  });
}

function deferred() {
  let release!: () => void;
  const wait = new Promise<void>((r) => (release = r));
  return { wait, release };
}

const notResponding = {
  conditions: [
    {
      type: 'Available',
      status: 'False' as const,
      reason: 'PluginNotResponding',
      message: 'plugin "alpha-ds" is running but not responding (pid 42): health probe timed out after 1s',
      lastTransitionTime: new Date().toISOString(),
    },
  ],
};

const afterTest: Array<() => void> = [];
afterEach(() => afterTest.splice(0).forEach((f) => f()));

describe('the console waits for the server', () => {
  it('shows the waiting time, then the answer in view and focused', async () => {
    const server = new FakeServer([dps('alpha-ds', { services: [{ type: 'query' }] })]);
    const d = deferred();
    fakeDpa(server, () => ({ status: 504, body: status(504, 'Timeout', 'QueryData timed out after 45s'), wait: d.wait }));
    const scrolled = jest.fn();
    const before = Element.prototype.scrollIntoView;
    Element.prototype.scrollIntoView = scrolled;
    afterTest.push(() => (Element.prototype.scrollIntoView = before));
    renderApp(server, '/services/alpha-ds', false);
    await screen.findByTestId('console-prefix');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    const waiting = await screen.findByTestId('console-waiting');
    expect(within(waiting).getByRole('status')).toHaveTextContent('Waiting for the answer');
    expect(within(waiting).getByTestId('console-elapsed')).toHaveTextContent('0 s');
    await waitFor(() => expect(within(waiting).getByTestId('console-elapsed')).toHaveTextContent('1 s'), { timeout: 3000 });
    d.release();
    const answer = await screen.findByTestId('console-response');
    expect(within(answer).getByTestId('console-status')).toHaveTextContent('HTTP 504');
    expect(within(answer).getByTestId('console-status-message')).toHaveTextContent('QueryData timed out after 45s');
    expect(screen.queryByTestId('console-waiting')).not.toBeInTheDocument();
    await waitFor(() => expect(document.activeElement).toBe(answer));
    expect(scrolled).toHaveBeenCalled();
    // The answer comes before the curl block, not below it.
    expect(answer.compareDocumentPosition(screen.getByTestId('console-curl')) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });

  it('Cancel aborts the request and says so', async () => {
    const server = new FakeServer([dps('alpha-ds', { services: [{ type: 'query' }] })]);
    fakeDpa(server, () => ({ status: 200, body: { results: {} }, wait: new Promise(() => {}) }));
    renderApp(server, '/services/alpha-ds', false);
    await screen.findByTestId('console-prefix');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    const waiting = await screen.findByTestId('console-waiting');
    await userEvent.click(within(waiting).getByRole('button', { name: 'Cancel' }));
    expect(await screen.findByTestId('console-cancelled')).toHaveTextContent(/cancelled the call after \d+\.\d s/);
    expect(server.aborted.map((c) => c.url)).toEqual([`${BASE}${QUERY}`]);
    expect(screen.getByRole('button', { name: 'Send' })).toBeEnabled();
  });
});

describe('standalone BackendSrv and console requests', () => {
  it('gives a request with an abortSignal no client limit; the signal aborts it', async () => {
    jest.useFakeTimers();
    try {
      let signal: AbortSignal | undefined;
      let answer!: (r: Response) => void;
      const slow = jest.fn((_url: string, init: RequestInit) => {
        signal = init.signal ?? undefined;
        return new Promise<Response>((r) => (answer = r));
      });
      const srv = createFetchBackendSrv({ fetchImpl: slow as unknown as typeof fetch, timeoutMs: 30000 });
      const ctl = new AbortController();
      let got: unknown;
      srv.fetch({ url: '/apis/g/v/namespaces/default/datasources/x/query', method: 'POST', abortSignal: ctl.signal }).subscribe({ next: (r) => (got = r), error: (e) => (got = e) });
      jest.advanceTimersByTime(120_000);
      expect(got).toBeUndefined();
      expect(signal?.aborted).toBe(false);
      answer({ ok: true, status: 200, statusText: 'OK', headers: new Headers({ 'content-type': 'application/json' }), text: async () => '{"results":{}}' } as unknown as Response);
      await jest.runAllTimersAsync();
      expect(got).toMatchObject({ status: 200, data: { results: {} } });

      // Aborting the signal aborts the fetch and reports a cancelled request.
      const ctl2 = new AbortController();
      slow.mockImplementationOnce((_u: string, init: RequestInit) => new Promise<Response>((_r, reject) => init.signal?.addEventListener('abort', () => reject(new Error('aborted')))));
      let err: unknown;
      srv.fetch({ url: '/x', abortSignal: ctl2.signal }).subscribe({ error: (e) => (err = e) });
      ctl2.abort();
      await jest.runAllTimersAsync();
      expect(err).toMatchObject({ cancelled: true });
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('stream errors', () => {
  const errLine = JSON.stringify({ error: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 502, reason: 'BadGateway', message: 'RunStream failed: the fail channel failed after 2 frames' } });

  it('recognises only dpa\'s error line', () => {
    expect(streamErrorOf(errLine)).toMatchObject({ code: 502, reason: 'BadGateway' });
    expect(streamErrorOf('{"schema":{"fields":[]},"data":{"values":[]}}')).toBeUndefined();
    expect(streamErrorOf('{"error":"just a field of a message"}')).toBeUndefined();
    expect(streamErrorOf('{"error":{"code":500},"other":1}')).toBeUndefined();
    expect(streamErrorOf('not json')).toBeUndefined();
  });

  it('listenStream keeps the messages and returns the error line as streamError', async () => {
    const chunks = ['{"tick":1}\n{"ti', 'ck":2}\n', `${errLine}\n`];
    const enc = new TextEncoder();
    const fetchImpl = jest.fn(async () => ({
      ok: true,
      status: 200,
      statusText: 'OK',
      headers: new Headers({ 'content-type': 'application/x-ndjson' }),
      body: {
        getReader: () => ({
          read: async () => (chunks.length ? { done: false, value: enc.encode(chunks.shift()!) } : { done: true, value: undefined }),
          releaseLock: () => {},
        }),
      },
    }));
    const r = await listenStream('/s', { ms: 3000, fetchImpl: fetchImpl as unknown as typeof fetch });
    expect(r.messages).toEqual(['{"tick":1}', '{"tick":2}']);
    expect(r.streamError).toMatchObject({ code: 502, message: 'RunStream failed: the fail channel failed after 2 frames' });
  });

  it('shows the error as an error, apart from the messages', () => {
    const resp: ConsoleResponse = {
      status: 200,
      ms: 120,
      headers: [],
      body: undefined,
      text: '{"tick":1}',
      messages: ['{"tick":1}'],
      streamError: streamErrorOf(errLine),
    };
    render(<ResponseView resp={resp} />);
    expect(screen.getByTestId('console-stream-error')).toHaveTextContent('The stream failed: BadGateway (502)');
    expect(screen.getByTestId('console-stream-error-message')).toHaveTextContent('the fail channel failed after 2 frames');
    expect(screen.getByTestId('console-messages').textContent).toBe('{"tick":1}');
  });
});

describe('a service that is not available', () => {
  it('warns in the console, with reason and message, before sending', async () => {
    const server = new FakeServer([dps('alpha-ds', { services: [{ type: 'query' }] }, notResponding)]);
    fakeDpa(server, () => ({ status: 503, body: status(503, 'ServiceUnavailable', 'plugin not responding') }));
    renderApp(server, '/services/alpha-ds', false);
    const warn = await screen.findByTestId('console-unavailable');
    expect(warn).toHaveTextContent('This service is not available now: PluginNotResponding');
    expect(within(warn).getByTestId('console-unavailable-message')).toHaveTextContent('health probe timed out after 1s');
    expect(screen.getByRole('button', { name: 'Send' })).toBeEnabled();
  });

  it('says the plugin is not installed rather than "nothing you may call"', () => {
    const missing = dps('alpha-ds', {}, {
      conditions: [{ type: 'Available', status: 'False', reason: 'PluginNotFound', message: 'no plugin alpha-ds is installed', lastTransitionTime: '' }],
    });
    expect(unavailable(missing)).toEqual({ reason: 'PluginNotFound', message: 'no plugin alpha-ds is installed' });
    expect(emptyConsoleText(missing)).toBe('The plugin alpha-ds is not installed (PluginNotFound): dpa serves no calls for this service until it is.');
    expect(emptyConsoleText(dps('alpha-ds'))).toBe('Nothing here that you may call.');
    expect(emptyConsoleText(dps('alpha-ds', {}, notResponding))).toMatch(/^This service is not available \(PluginNotResponding\): plugin "alpha-ds" is running/);
  });

  it('shows it on the page of a service whose plugin is not installed', async () => {
    const missing = dps('alpha-ds', { services: [{ type: 'query' }] }, {
      conditions: [{ type: 'Available', status: 'False', reason: 'PluginNotFound', message: 'no plugin alpha-ds is installed', lastTransitionTime: '' }],
    });
    const server = new FakeServer([missing]);
    server.overrides.push((call) => {
      const path = call.url.replace(BASE, '');
      if (path.endsWith('/selfsubjectreviews')) {
        return { status: 201, body: { status: { userInfo: { username: 'u', groups: ['grafana:org:1:Editor'] } } } };
      }
      if (path.endsWith('/selfsubjectaccessreviews')) {
        return { status: 201, body: { status: { allowed: true } } };
      }
      if (path.startsWith(`/apis/${G}/`)) {
        return { status: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
      }
      return undefined;
    });
    renderApp(server, '/services/alpha-ds', false);
    expect(await screen.findByTestId('console-empty')).toHaveTextContent('The plugin alpha-ds is not installed (PluginNotFound)');
    expect(screen.queryByText('Nothing here that you may call.')).not.toBeInTheDocument();
  });
});
