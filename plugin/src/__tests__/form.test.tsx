import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FakeServer, dps, renderApp, status, currentNav } from './harness';

const field = (key: string) => screen.getByTestId(`field-${key}`);

async function fillNew(values: Record<string, string>) {
  for (const [id, v] of Object.entries(values)) {
    const input = document.getElementById(id) as HTMLInputElement;
    await userEvent.clear(input);
    if (v) {
      await userEvent.type(input, v);
    }
  }
}

/** saveIntoConflict edits "c", lets someone else change it meanwhile, and saves into the 409. */
async function saveIntoConflict() {
  const server = new FakeServer([dps('c', { pluginID: 'old-id' })]);
  renderApp(server, '/services/c/edit');
  await screen.findByDisplayValue('old-id');
  server.objects.set('c', { ...dps('c', { pluginID: 'their-id' }), metadata: { ...dps('c').metadata, resourceVersion: '7' } });
  await fillNew({ 'dps-plugin-id': 'my-id' });
  await userEvent.click(screen.getByRole('button', { name: 'Save' }));
  return { server, alert: await screen.findByTestId('conflict-alert') };
}

describe('create form', () => {
  it('shows client-side validation messages and sends nothing', async () => {
    const server = new FakeServer();
    renderApp(server, '/new');
    await screen.findByText('New data plane service');
    await fillNew({ 'dps-name': 'Bad Name', 'dps-plugin-id': 'My_Plugin', 'dps-group': 'not a group', 'dps-version': '1beta' });
    await userEvent.click(screen.getByRole('button', { name: 'Remove service 1' }));
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));

    expect(within(field('metadata.name')).getByText(/DNS-1123 subdomain/)).toBeInTheDocument();
    expect(within(field('spec.pluginID')).getByText(/lower-case letters and digits separated by single dashes/)).toBeInTheDocument();
    expect(within(field('spec.group')).getByText(/^Must be a DNS-1123 subdomain/)).toBeInTheDocument();
    expect(within(field('spec.version')).getByText(/^Must be a DNS-1035 label/)).toBeInTheDocument();
    expect(screen.getByTestId('services-error')).toHaveTextContent('Add at least one service');
    expect(server.requests('POST')).toHaveLength(0);

    // Fixing a field clears its message on the fly.
    await fillNew({ 'dps-plugin-id': 'my-plugin' });
    expect(within(field('spec.pluginID')).queryByText(/single dashes/)).not.toBeInTheDocument();
  });

  it('creates a service with a POST of the typed object and opens its page', async () => {
    const server = new FakeServer();
    renderApp(server, '/new');
    await screen.findByText('New data plane service');
    await fillNew({ 'dps-name': 'my-ds', 'dps-plugin-id': 'my-datasource', 'dps-group': 'my.grafana.app', 'dps-version': 'v1' });
    await userEvent.click(screen.getByRole('button', { name: 'Add service' }));
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));
    // two "query" services are duplicates
    expect(within(field('spec.services[1].type')).getByText('Duplicate of service #1')).toBeInTheDocument();
    expect(server.requests('POST')).toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: 'Remove service 2' }));
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(server.requests('POST')).toHaveLength(1));
    const post = server.requests('POST')[0];
    expect(post.headers['X-DPA-CSRF']).toBe('1');
    expect(post.body).toEqual({
      apiVersion: 'aggregation.grafana.app/v0alpha1',
      kind: 'DataPlaneService',
      metadata: { name: 'my-ds' },
      spec: { pluginID: 'my-datasource', pluginType: 'datasource', group: 'my.grafana.app', version: 'v1', services: [{ type: 'query' }] },
    });
    await waitFor(() => expect(currentNav?.path).toBe('/services/my-ds'));
  });

  it('maps a 422 Invalid to the named fields', async () => {
    const server = new FakeServer([dps('other', { group: 'taken.grafana.app', version: 'v1' })]);
    server.overrides.push((c) =>
      c.method === 'POST'
        ? {
            status: 422,
            body: status(422, 'Invalid', 'DataPlaneService.aggregation.grafana.app "my-ds" is invalid: spec.group: Duplicate value: ...', [
              { field: 'spec.group', reason: 'FieldValueDuplicate', message: 'Duplicate value: "taken.grafana.app/v1" is already served by "other"' },
              { field: 'spec.services[0].type', reason: 'FieldValueNotSupported', message: 'Unsupported value: "query": app plugins have no query service' },
              { field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'Invalid value: "x"' },
            ]),
          }
        : undefined
    );
    renderApp(server, '/new');
    await screen.findByText('New data plane service');
    await fillNew({ 'dps-name': 'my-ds', 'dps-plugin-id': 'my-datasource', 'dps-group': 'taken.grafana.app', 'dps-version': 'v1' });
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));
    expect(await within(field('spec.group')).findByText(/already served by "other"/)).toBeInTheDocument();
    expect(within(field('spec.services[0].type')).getByText(/app plugins have no query service/)).toBeInTheDocument();
    expect(screen.getByText('The server rejected the service')).toBeInTheDocument();
    // A cause for a field the form does not render is listed in the summary.
    expect(screen.getByText('metadata.labels')).toBeInTheDocument();
    expect(currentNav?.path).toBe('/new');
    // Editing the field clears the server message.
    await fillNew({ 'dps-group': 'free.grafana.app' });
    expect(within(field('spec.group')).queryByText(/already served/)).not.toBeInTheDocument();
  });

  it('shows route method/path only for route services and maps 422 causes to a service path', async () => {
    const server = new FakeServer([dps('r', { services: [{ type: 'query' }, { type: 'route', method: 'GET', path: '/things/{name}' }] })]);
    server.overrides.push((c) =>
      c.method === 'PUT'
        ? {
            status: 422,
            body: status(422, 'Invalid', 'DataPlaneService.aggregation.grafana.app "r" is invalid: spec.services[1].path: Invalid value', [
              { field: 'spec.services[1].path', reason: 'FieldValueInvalid', message: 'Invalid value: "/things/{name}/x y": segment contains a space' },
            ]),
          }
        : undefined
    );
    renderApp(server, '/services/r/edit');
    await screen.findByDisplayValue('/things/{name}');
    expect(document.getElementById('svc-0-path')).toBeNull();
    const path = document.getElementById('svc-1-path') as HTMLInputElement;
    expect(path.value).toBe('/things/{name}');
    // client check for catch-all placement
    await userEvent.clear(path);
    await userEvent.type(path, '/a/{{rest...}/b');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(within(field('spec.services[1].path')).getByText(/catch-all is only allowed as the last segment/)).toBeInTheDocument();
    expect(server.requests('PUT')).toHaveLength(0);

    await userEvent.clear(path);
    await userEvent.type(path, '/things/{{name}/x y');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await within(field('spec.services[1].path')).findByText(/segment contains a space/)).toBeInTheDocument();
    const put = server.requests('PUT')[0];
    expect(put.url).toMatch(/\/dataplaneservices\/r\?fieldManager=dpa-ui$/);
    expect((put.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('1');
    expect((put.body as { spec: { services: unknown[] } }).spec.services).toEqual([{ type: 'query' }, { type: 'route', method: 'GET', path: '/things/{name}/x y' }]);
  });

  it('explains a 409 Conflict with a diff, and keeps the user\'s changes on top of the current version', async () => {
    const { server, alert } = await saveIntoConflict();
    expect(alert).toHaveTextContent('Someone else changed this service');
    expect(alert).toHaveTextContent('409');
    // The diff: their version (−) against mine (+).
    const diff = await within(alert).findByTestId('diff');
    expect(within(diff).getByText(/pluginID: their-id/).closest('[data-op]')).toHaveAttribute('data-op', '-');
    expect(within(diff).getByText(/pluginID: my-id/).closest('[data-op]')).toHaveAttribute('data-op', '+');
    expect(server.requests('PUT')).toHaveLength(1);
    expect(currentNav?.path).toBe('/services/c/edit');
    await userEvent.click(within(alert).getByRole('button', { name: 'Keep my changes' }));
    expect(screen.queryByTestId('conflict-alert')).not.toBeInTheDocument();
    expect((document.getElementById('dps-plugin-id') as HTMLInputElement).value).toBe('my-id');
    // Saving again carries the current resourceVersion and succeeds.
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(currentNav?.path).toBe('/services/c'));
    expect((server.requests('PUT')[1].body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('7');
    expect(server.objects.get('c')!.spec.pluginID).toBe('my-id');
  });

  it('after a 409, "Discard mine" loads their version', async () => {
    const { alert } = await saveIntoConflict();
    await userEvent.click(await within(alert).findByRole('button', { name: 'Discard mine, load theirs' }));
    await waitFor(() => expect((document.getElementById('dps-plugin-id') as HTMLInputElement).value).toBe('their-id'));
    expect(screen.queryByTestId('conflict-alert')).not.toBeInTheDocument();
  });
});

describe('unsaved changes', () => {
  it('survive a session that ends mid-edit: back from sign-in, the form has them', async () => {
    const server = new FakeServer([dps('s', { pluginID: 'old-id' })]);
    // The session ends: every request answers 401 (the standalone host would go to sign-in).
    let expired = false;
    server.overrides.push(() => (expired ? { status: 401, body: status(401, 'Unauthorized', 'Unauthorized') } : undefined));
    const first = renderApp(server, '/services/s/edit');
    await screen.findByDisplayValue('old-id');
    await fillNew({ 'dps-plugin-id': 'kept-id' });
    expired = true;
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Save failed')).toBeInTheDocument();
    first.unmount(); // the page is left for the sign-in page
    expired = false; // signed in again
    renderApp(server, '/services/s/edit');
    expect(await screen.findByTestId('restored-alert')).toHaveTextContent('Your unsaved changes are back');
    expect((document.getElementById('dps-plugin-id') as HTMLInputElement).value).toBe('kept-id');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(currentNav?.path).toBe('/services/s'));
    expect(server.objects.get('s')!.spec.pluginID).toBe('kept-id');
    // Saved: nothing is restored next time.
    expect(window.sessionStorage.length).toBe(0);
  });

  it('a new form keeps its draft too, and "Discard them" starts over', async () => {
    const server = new FakeServer();
    const first = renderApp(server, '/new');
    await screen.findByText('New data plane service');
    await fillNew({ 'dps-name': 'half-done' });
    first.unmount();
    renderApp(server, '/new');
    expect(await screen.findByTestId('restored-alert')).toBeInTheDocument();
    expect((document.getElementById('dps-name') as HTMLInputElement).value).toBe('half-done');
    await userEvent.click(screen.getByRole('button', { name: 'Discard them' }));
    await waitFor(() => expect((document.getElementById('dps-name') as HTMLInputElement).value).toBe(''));
    expect(screen.queryByTestId('restored-alert')).not.toBeInTheDocument();
  });
});

describe('review and YAML', () => {
  it('Review changes asks the server with a dry run, shows the diff and stores nothing', async () => {
    const server = new FakeServer([dps('r', { pluginID: 'old-id' })]);
    renderApp(server, '/services/r/edit');
    await screen.findByDisplayValue('old-id');
    await fillNew({ 'dps-plugin-id': 'new-id' });
    await userEvent.click(screen.getByRole('button', { name: 'Review changes' }));
    const review = await screen.findByTestId('review');
    expect(server.requests('PUT')[0].url).toMatch(/dryRun=All/);
    expect(within(review).getByText(/pluginID: old-id/).closest('[data-op]')).toHaveAttribute('data-op', '-');
    expect(within(review).getByText(/pluginID: new-id/).closest('[data-op]')).toHaveAttribute('data-op', '+');
    expect(server.objects.get('r')!.spec.pluginID).toBe('old-id');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(server.objects.get('r')!.spec.pluginID).toBe('new-id'));
  });

  it('a dry run\'s 422 is shown before anything is applied, also in the YAML view', async () => {
    const server = new FakeServer([dps('y', { pluginID: 'old-id' })]);
    server.overrides.push((c) =>
      c.method === 'PUT' && c.url.includes('dryRun=All') && (c.body as { spec: { group: string } }).spec.group === 'taken.grafana.app'
        ? {
            status: 422,
            body: status(422, 'Invalid', 'DataPlaneService "y" is invalid', [
              { field: 'spec.group', reason: 'FieldValueDuplicate', message: 'Duplicate value: already served by "other"' },
            ]),
          }
        : undefined
    );
    renderApp(server, '/services/y/edit');
    await screen.findByDisplayValue('old-id');
    await userEvent.click(screen.getByLabelText('YAML'));
    const yaml = document.getElementById('dps-yaml') as HTMLTextAreaElement;
    expect(yaml.value).toContain('pluginID: old-id');
    expect(yaml.value).not.toContain('resourceVersion');
    // Not YAML at all: said at the field, and nothing can be sent.
    fireEvent.change(yaml, { target: { value: 'spec: [' } });
    expect(screen.getByTestId('field-yaml')).toHaveTextContent(/Flow sequence|Unexpected|Missing|flow/i);
    expect(screen.getByRole('button', { name: 'Review changes' })).toBeDisabled();
    const text = 'metadata:\n  name: y\nspec:\n  pluginID: old-id\n  pluginType: datasource\n  group: taken.grafana.app\n  version: v1\n  services:\n    - type: query\n';
    fireEvent.change(yaml, { target: { value: text } });
    // The editor: labelled, numbered lines, the count, lines never wrapped.
    expect(document.querySelector('label[for="dps-yaml"]')).toHaveTextContent(/^YAML/);
    expect(screen.getByTestId('yaml-lines')).toHaveTextContent('10 lines');
    expect(screen.getByTestId('yaml-gutter').textContent).toBe('1\n2\n3\n4\n5\n6\n7\n8\n9\n10');
    expect(yaml.getAttribute('wrap')).toBe('off');
    expect(screen.getByRole('button', { name: 'Review changes' })).toBeEnabled();
    await userEvent.click(screen.getByRole('button', { name: 'Review changes' }));
    expect(await screen.findByText('The server rejected the service')).toBeInTheDocument();
    expect(screen.getByText(/already served by "other"/)).toBeInTheDocument();
    expect(server.requests('PUT').every((c) => c.url.includes('dryRun=All'))).toBe(true);
    expect(server.objects.get('y')!.spec.group).toBe('y.grafana.app');
  });
});
