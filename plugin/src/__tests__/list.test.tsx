import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FakeServer, dps, renderApp, currentNav } from './harness';

const conds = (registered: 'True' | 'False' | 'Unknown', available: 'True' | 'False' | 'Unknown') => ({
  observedGeneration: 1,
  conditions: [
    { type: 'Registered', status: registered, reason: registered === 'True' ? 'RoutesRegistered' : 'Conflict', message: 'routes in table', lastTransitionTime: '2026-01-01T00:00:00Z' },
    { type: 'Available', status: available, reason: available === 'True' ? 'PluginServing' : 'PluginNotRunning', message: 'plugin process exited', lastTransitionTime: '2026-01-01T00:00:00Z' },
  ],
});

describe('list page', () => {
  it('renders a Ready column with the reason inline and the message on focus', async () => {
    const server = new FakeServer([dps('alpha-ds', {}, conds('True', 'True')), dps('beta-app', { pluginType: 'app' }, conds('True', 'False')), dps('gamma')]);
    renderApp(server);
    const row = await screen.findByTestId('row-beta-app');
    expect(within(row).getByText('beta-app.grafana.app/v0alpha1')).toBeInTheDocument();
    expect(within(row).getByText('app')).toBeInTheDocument();
    expect(within(row).getByText('3h')).toBeInTheDocument();
    expect(within(row).getByTestId('ready')).toHaveAttribute('data-state', 'NotReady');
    expect(within(row).getByTestId('ready-reason')).toHaveTextContent('PluginNotRunning');
    const cell = within(row).getByRole('img', { name: /Not ready/ });
    expect(cell).toHaveAccessibleName('Not ready — Available: PluginNotRunning — plugin process exited');
    act(() => cell.focus());
    expect(await screen.findByText('Available: PluginNotRunning — plugin process exited', { selector: 'div, span' })).toBeInTheDocument();
    expect(within(screen.getByTestId('row-alpha-ds')).getByTestId('ready')).toHaveAttribute('data-state', 'Ready');
    expect(within(screen.getByTestId('row-gamma')).getByText('Pending')).toBeInTheDocument();
    // Only GETs, to the Grafana resource prefix, without the CSRF header.
    expect(server.calls.every((c) => c.method === 'GET')).toBe(true);
    expect(server.calls[0].url).toBe('/api/plugins/dataplane-aggregator-app/resources/apis/aggregation.grafana.app/v0alpha1/dataplaneservices?limit=500');
    expect(server.calls[0].headers['X-DPA-CSRF']).toBeUndefined();
  });

  it('counts, filters by reason and state, sorts and pages, all in the URL', async () => {
    const many = [
      ...Array.from({ length: 60 }, (_, i) => dps(`nf-${String(i).padStart(2, '0')}`, {}, conds('True', 'False'))),
      ...Array.from({ length: 5 }, (_, i) => dps(`ok-${i}`, {}, conds('True', 'True'))),
    ];
    const server = new FakeServer(many);
    renderApp(server);
    await screen.findByTestId('row-nf-00');
    expect(screen.getByTestId('list-count')).toHaveTextContent('65 services · showing 1–50');
    expect(screen.getAllByRole('row')).toHaveLength(51);
    const states = within(screen.getByTestId('state-filter'));
    expect(states.getByLabelText('Not ready 60')).toBeInTheDocument();
    expect(states.getByLabelText('Ready 5')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: /next page/i }));
    expect(currentNav?.search).toBe('page=2');
    expect(screen.getByTestId('row-ok-4')).toBeInTheDocument();
    expect(screen.queryByTestId('row-nf-00')).not.toBeInTheDocument();

    // Reason pill: "60 PluginNotRunning".
    await userEvent.click(within(screen.getByTestId('reason-filter')).getByText('60 PluginNotRunning'));
    expect(currentNav?.search).toBe('reason=PluginNotRunning');
    expect(screen.getByTestId('list-count')).toHaveTextContent('60 of 65 services match');
    expect(screen.queryByTestId('row-ok-0')).not.toBeInTheDocument();

    await userEvent.click(states.getByLabelText('Ready 5'));
    expect(currentNav?.search).toBe('status=Ready');
    expect(screen.getAllByRole('row')).toHaveLength(6);

    // Sort by name, descending, from the column header.
    const nameHeader = screen.getByRole('columnheader', { name: /Name/ });
    expect(nameHeader).toHaveAttribute('aria-sort', 'ascending');
    await userEvent.click(within(nameHeader).getByRole('button'));
    expect(nameHeader).toHaveAttribute('aria-sort', 'descending');
    expect(currentNav?.search).toBe('status=Ready&sort=-name');
    expect(within(screen.getAllByRole('row')[1]).getByRole('link')).toHaveTextContent('ok-4');
  });

  it('starts from the state in the URL', async () => {
    const server = new FakeServer([dps('a-ok', {}, conds('True', 'True')), dps('b-bad', {}, conds('False', 'True'))]);
    renderApp(server, '/?status=NotReady&q=b-');
    await screen.findByTestId('row-b-bad');
    expect(screen.queryByTestId('row-a-ok')).not.toBeInTheDocument();
    expect(screen.getByPlaceholderText(/Filter by name/)).toHaveValue('b-');
  });

  it('filters by text and plugin type', async () => {
    const server = new FakeServer([dps('alpha-ds'), dps('beta-app', { pluginType: 'app' }), dps('gamma-ds', { group: 'metrics.example.com' })]);
    renderApp(server);
    await screen.findByTestId('row-alpha-ds');
    await userEvent.type(screen.getByPlaceholderText(/Filter by name/), 'metrics.example');
    expect(screen.queryByTestId('row-alpha-ds')).not.toBeInTheDocument();
    expect(screen.getByTestId('row-gamma-ds')).toBeInTheDocument();
    await userEvent.clear(screen.getByPlaceholderText(/Filter by name/));
    await userEvent.click(screen.getByLabelText('App'));
    expect(screen.getByTestId('row-beta-app')).toBeInTheDocument();
    expect(screen.queryByTestId('row-alpha-ds')).not.toBeInTheDocument();
    expect(screen.queryByTestId('row-gamma-ds')).not.toBeInTheDocument();
    await userEvent.type(screen.getByPlaceholderText(/Filter by name/), 'nothing-matches');
    expect(screen.getByText('No data plane services match the filter')).toBeInTheDocument();
  });

  it('shows an empty state with a create call to action', async () => {
    const server = new FakeServer([]);
    renderApp(server);
    expect(await screen.findByText('No data plane services yet')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: /Create data plane service/ }));
    await waitFor(() => expect(currentNav?.path).toBe('/new'));
    expect(await screen.findByText('New data plane service')).toBeInTheDocument();
  });

  it('shows load errors', async () => {
    const server = new FakeServer([]);
    server.overrides.push(() => ({ status: 401, body: { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' } }));
    renderApp(server);
    expect(await screen.findByText('Could not load data plane services')).toBeInTheDocument();
  });
});

describe('delete', () => {
  it('asks for confirmation and only then sends DELETE (with the CSRF header)', async () => {
    const server = new FakeServer([dps('alpha-ds'), dps('beta-ds')]);
    renderApp(server);
    await screen.findByTestId('row-alpha-ds');
    await userEvent.click(screen.getByRole('button', { name: 'Delete alpha-ds' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('Delete alpha-ds?')).toBeInTheDocument();
    expect(server.requests('DELETE')).toHaveLength(0);
    // Cancel first: nothing is sent.
    await userEvent.click(within(dialog).getByRole('button', { name: /Cancel/ }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(server.requests('DELETE')).toHaveLength(0);

    await userEvent.click(screen.getByRole('button', { name: 'Delete alpha-ds' }));
    const dialog2 = await screen.findByRole('dialog');
    await userEvent.click(within(dialog2).getByRole('button', { name: /^Delete$/ }));
    await waitFor(() => expect(server.requests('DELETE')).toHaveLength(1));
    const del = server.requests('DELETE')[0];
    expect(del.url).toBe('/api/plugins/dataplane-aggregator-app/resources/apis/aggregation.grafana.app/v0alpha1/dataplaneservices/alpha-ds');
    expect(del.headers['X-DPA-CSRF']).toBe('1');
    await waitFor(() => expect(screen.queryByTestId('row-alpha-ds')).not.toBeInTheDocument());
    expect(screen.getByTestId('row-beta-ds')).toBeInTheDocument();
  });

  it('deletes from the detail page and returns to the list', async () => {
    const server = new FakeServer([dps('alpha-ds')]);
    renderApp(server, '/services/alpha-ds');
    await screen.findByText('Spec');
    await userEvent.click(screen.getByRole('button', { name: /Delete/ }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(within(dialog).getByRole('button', { name: /^Delete$/ }));
    await waitFor(() => expect(server.requests('DELETE', '/alpha-ds')).toHaveLength(1));
    await waitFor(() => expect(currentNav?.path).toBe('/'));
  });
});

describe('list page at scale', () => {
  it('shows the first page of a long list at once, says it is still loading, and drops the notice when all arrived', async () => {
    const server = new FakeServer([dps('a'), dps('b')]);
    let release: () => void = () => {};
    const rest = new Promise<unknown>((r) => (release = () => r(undefined)));
    server.overrides.push((c) => {
      const u = new URL(c.url, 'https://x');
      if (c.method !== 'GET' || !u.pathname.endsWith('/dataplaneservices') || u.searchParams.has('watch')) {
        return undefined;
      }
      const all = [...server.objects.values()];
      if (!u.searchParams.has('continue')) {
        return { status: 200, body: { items: all.slice(0, 1), metadata: { resourceVersion: '100', continue: 'next', remainingItemCount: 1 } } };
      }
      return { status: 200, wait: rest, body: { items: all.slice(1), metadata: { resourceVersion: '100' } } };
    });
    renderApp(server);
    await screen.findByTestId('row-a');
    expect(screen.getByTestId('list-loading')).toHaveTextContent('Loading data plane services: 1 of 2');
    expect(screen.queryByTestId('row-b')).not.toBeInTheDocument();
    release();
    await screen.findByTestId('row-b');
    expect(screen.queryByTestId('list-loading')).not.toBeInTheDocument();
  });
});
