import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FakeServer, dps, installedPlugin, renderApp, currentNav } from './harness';
import { summarize, suggestedServices, supports } from '../api/plugins';

describe('installed plugins model', () => {
  it('summarizes replicas: running count, restarts, services every running replica implements', () => {
    const p = installedPlugin('x-datasource', 'datasource', { unimplemented: ['pluginv2.Resource'], restarts: 2 });
    p.status!.replicas!.push({ replica: 'b', version: '1.2.3', phase: 'Backoff', running: false, restarts: 3, lastError: 'exit status 2' });
    expect(summarize(p)).toEqual({
      phase: 'Running, Backoff',
      running: 1,
      serving: 1,
      notResponding: undefined,
      replicas: 2,
      restarts: 5,
      lastError: 'exit status 2',
      services: ['pluginv2.Data', 'pluginv2.Diagnostics'],
    });
  });

  it.each([
    ['query', true],
    ['health', true],
    ['stream', false],
    ['admission', false],
    ['datasource-proxy', true], // dpa answers it itself
  ] as const)('supports %s: %s', (type, ok) => {
    expect(supports(installedPlugin('x-datasource', 'datasource'), type).ok).toBe(ok);
  });

  it('treats a plugin no replica runs as unknown (allowed) and suggests what it serves', () => {
    expect(supports(installedPlugin('x', 'datasource', { running: false, services: undefined }), 'stream').ok).toBe(true);
    expect(suggestedServices(installedPlugin('x', 'datasource'))).toEqual(['query', 'resource', 'health']);
    expect(suggestedServices(installedPlugin('y', 'app', { services: ['pluginv2.Resource', 'pluginv2.Stream'] }))).toEqual(['resource', 'stream']);
  });
});

describe('editor and installed plugins', () => {
  it('picks an installed plugin: fills id and type, prefills the services it serves, flags the ones it cannot', async () => {
    const server = new FakeServer();
    server.plugins = [installedPlugin('example-datasource', 'datasource'), installedPlugin('example-app', 'app', { services: ['pluginv2.Resource'] })];
    renderApp(server, '/new');
    await screen.findByText('New data plane service');
    await userEvent.click(await screen.findByLabelText('Installed plugin'));
    await userEvent.click(await screen.findByText('example app (example-app)'));
    expect((document.getElementById('dps-plugin-id') as HTMLInputElement).value).toBe('example-app');
    expect(screen.getByLabelText('App')).toBeChecked();
    // Only the resource service: the app serves nothing else.
    expect(screen.getAllByTestId(/^service-\d+$/)).toHaveLength(1);
    expect(screen.queryByTestId('plugin-not-installed')).not.toBeInTheDocument();
    // A service the plugin cannot serve is flagged before saving.
    await userEvent.click(screen.getByRole('button', { name: 'Add service' }));
    expect(screen.getByTestId('service-1-support')).toHaveTextContent('example-app does not serve pluginv2.Data, which query calls');
    // An id nobody installed is flagged too.
    const id = document.getElementById('dps-plugin-id') as HTMLInputElement;
    await userEvent.clear(id);
    await userEvent.type(id, 'not-installed');
    expect(screen.getByTestId('plugin-not-installed')).toHaveTextContent('PluginNotFound');
    expect(screen.queryByTestId('service-1-support')).not.toBeInTheDocument();
  });

  it('shows one error for one bad id: the field\'s, not also "not installed"', async () => {
    const server = new FakeServer();
    server.plugins = [installedPlugin('example-datasource', 'datasource')];
    renderApp(server, '/new');
    await screen.findByText('New data plane service');
    await screen.findByLabelText('Installed plugin');
    const id = document.getElementById('dps-plugin-id') as HTMLInputElement;
    await userEvent.type(id, 'Bad_Plugin');
    expect(screen.queryByTestId('plugin-not-installed')).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));
    const field = await screen.findByTestId('field-spec.pluginID');
    expect(field).toHaveTextContent('single dashes');
    expect(screen.queryByTestId('plugin-not-installed')).not.toBeInTheDocument();
    expect(screen.queryAllByText(/Bad_Plugin/)).toHaveLength(0); // no second message naming it
  });

  it('without access to plugins, the form works as before', async () => {
    const server = new FakeServer([dps('a', { pluginID: 'some-plugin' })]);
    server.overrides.push((c) => (c.url.includes('/v0alpha1/plugins') ? { status: 403, body: { kind: 'Status', code: 403, message: 'no' } } : undefined));
    renderApp(server, '/services/a/edit');
    await screen.findByDisplayValue('some-plugin');
    expect(screen.queryByLabelText('Installed plugin')).not.toBeInTheDocument();
    expect(screen.queryByTestId('plugin-not-installed')).not.toBeInTheDocument();
  });
});

describe('plugins page', () => {
  it('lists the installed plugins with running, restarts and last error, reached from the list', async () => {
    const server = new FakeServer([dps('a')]);
    server.plugins = [
      installedPlugin('example-datasource', 'datasource'),
      installedPlugin('crashy-datasource', 'datasource', { phase: 'Backoff', running: false, restarts: 4, lastError: 'exit status 1', services: undefined }),
    ];
    renderApp(server);
    await screen.findByTestId('row-a');
    await userEvent.click(screen.getByRole('button', { name: 'Installed plugins' }));
    await waitFor(() => expect(currentNav?.path).toBe('/plugins'));
    const crashy = await screen.findByTestId('plugin-crashy-datasource');
    expect(within(crashy).getByTestId('plugin-running')).toHaveTextContent('Backoff · 0/1');
    expect(within(crashy).getByTestId('plugin-restarts')).toHaveTextContent('4');
    expect(within(crashy).getByTestId('plugin-error')).toHaveTextContent('exit status 1');
    expect(within(screen.getByTestId('plugin-example-datasource')).getByTestId('plugin-running')).toHaveTextContent('Running · 1/1');
  });

  it('shows a hung plugin as not responding, with the probe message, never as serving', async () => {
    const server = new FakeServer([dps('a')]);
    const why = 'no answer to the health probe within 5s: context deadline exceeded';
    server.plugins = [installedPlugin('hung-datasource', 'datasource', { phase: 'NotResponding', notResponding: why })];
    renderApp(server, '/plugins');
    const hung = await screen.findByTestId('plugin-hung-datasource');
    expect(within(hung).getByTestId('plugin-running')).toHaveTextContent('NotResponding · 0/1');
    expect(within(hung).getByTestId('plugin-not-responding')).toHaveTextContent(`Not responding: ${why}`);
    expect(summarize(server.plugins[0])).toMatchObject({ running: 1, serving: 0, notResponding: why });
  });
});
