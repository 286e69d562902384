#!/usr/bin/env node
// Browser end-to-end test of the detail page's request console and per-service metrics,
// against a real `dpa serve` with the example plugins (examples/plugins) and datasources
// (examples/provisioning). scripts/ui-e2e.sh runs it after ui.e2e.mjs.
//
//   DPA_URL=https://127.0.0.1:6443 DPA_TOKEN=… DPA_VIEWER_TOKEN=… node e2e/console.e2e.mjs
//
// Env as ui.e2e.mjs: DPA_URL, DPA_TOKEN (a server admin), DPA_VIEWER_TOKEN (an org-1 Viewer),
// TEST_OUTPUT_DIR (default test-output/ui), CHROMIUM (default /usr/bin/chromium), HEADFUL=1.
// Flow: register the example datasource and app (the examples' DataPlaneServices) unless they
// exist; as admin: Test (health) on datasource "example" → OK; a query → 200 and a frames
// table with rows; a resource call (echo); the curl text has the real URL and no token;
// metrics beside the services after some requests; no horizontal overflow at 800 and 1366 px
// (with 25 routes); the app's instance Test; as a Viewer: no metrics, the console works.
import fs from 'node:fs';
import path from 'node:path';
import { API, AssertionError, axeCheck, launch, reporter, setTheme, testEnv } from './lib.mjs';

const { DPA_URL, DPA_TOKEN, DPA_VIEWER_TOKEN, OUT } = testEnv();
const DS_GROUP = 'example.datasource.grafana.app';
fs.rmSync(path.join(OUT, 'console-failure.png'), { force: true });

let failures = 0;
const { log, assert } = reporter('console-e2e');
const { context, page, consoleErrors, close } = await launch('dpa-console-e2e-', { permissions: ['clipboard-read', 'clipboard-write'] });

let shot = 0;
const axeViolations = [];
/** Screenshots in the light and dark themes, each checked with axe-core. */
async function shoot(name) {
  ++shot;
  // Not hovering the last clicked button: @grafana/ui's primary hover colour in the dark theme
  // is 3.55:1 against white text (axe wants 4.5:1) — Grafana's palette (README, "The web UI").
  await page.mouse.move(0, 0);
  for (const mode of ['light', 'dark']) {
    await setTheme(page, mode);
    await page.waitForTimeout(150);
    const file = path.join(OUT, `console-${String(shot).padStart(2, '0')}-${name}-${mode}.png`);
    await page.screenshot({ path: file, fullPage: true });
    axeViolations.push(...(await axeCheck(page, `console ${name} (${mode})`)));
  }
  log(`screenshots: console ${name}`);
}

async function admin(method, url, data) {
  const r = await context.request.fetch(DPA_URL + url, {
    method,
    data: data === undefined ? undefined : JSON.stringify(data),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${DPA_TOKEN}` },
    failOnStatusCode: false,
  });
  return { status: r.status(), body: await r.json().catch(() => undefined) };
}

async function signIn(token) {
  await context.clearCookies();
  await page.goto(`${DPA_URL}/ui/login`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(/\/ui\/$/), page.click('button[type=submit]')]);
}

/** A screenshot of one part of the page (readable at full size). */
async function shootPart(name, locator) {
  const file = path.join(OUT, `console-${String(++shot).padStart(2, '0')}-${name}.png`);
  await locator.screenshot({ path: file });
  log(`screenshot: ${path.basename(file)}`);
}

async function noOverflow(width) {
  await page.setViewportSize({ width, height: 900 });
  await page.waitForTimeout(300);
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert(m.scroll <= m.inner, `no horizontal overflow at ${width} px (scrollWidth ${m.scroll}, innerWidth ${m.inner})`);
}

/** Picks an option of a @grafana/ui Select by its visible text. */
async function pick(inputId, text) {
  await page.locator(`#${inputId}`).click();
  await page.getByRole('option').filter({ hasText: text }).first().click();
}

// The examples' DataPlaneServices, with 25 routes on the datasource (table width check).
const exampleDS = {
  apiVersion: 'aggregation.grafana.app/v0alpha1',
  kind: 'DataPlaneService',
  metadata: { name: 'example-datasource' },
  spec: {
    pluginID: 'example-datasource',
    pluginType: 'datasource',
    group: DS_GROUP,
    version: 'v0alpha1',
    services: [
      { type: 'query' },
      { type: 'health' },
      { type: 'resource' },
      { type: 'stream' },
      { type: 'metrics' },
      { type: 'admission' },
      { type: 'conversion' },
      { type: 'datasource-proxy' },
      { type: 'route', method: 'GET', path: '/namespaces/{namespace}/datasources/{uid}/items/{id}' },
      { type: 'route', path: '/namespaces/{namespace}/datasources/{uid}/echo' },
      ...Array.from({ length: 23 }, (_, i) => ({
        type: 'route',
        method: 'GET',
        path: `/namespaces/{namespace}/datasources/{uid}/a-rather-long-custom-route-segment-number-${i}/with/{several}/{placeholders}/and-more`,
      })),
    ],
  },
};
const exampleApp = {
  apiVersion: 'aggregation.grafana.app/v0alpha1',
  kind: 'DataPlaneService',
  metadata: { name: 'example-app' },
  spec: { pluginID: 'example-app', pluginType: 'app', group: 'example.app.grafana.app', version: 'v0alpha1', services: [{ type: 'health' }, { type: 'resource' }, { type: 'stream' }] },
};
const created = [];

try {
  for (const o of [exampleDS, exampleApp]) {
    const cur = await admin('GET', `${API}/${o.metadata.name}`);
    if (cur.status === 404) {
      const r = await admin('POST', API, o);
      assert(r.status === 201, `registered ${o.metadata.name} (${r.status})`);
      created.push(o.metadata.name);
    } else {
      log(`${o.metadata.name} exists already: using it`);
    }
  }
  // Wait until the data plane serves the datasource (Available).
  for (let i = 0; i < 100; i++) {
    const r = await admin('GET', `/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/health`);
    if (r.status === 200) {
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  // --- Admin ---------------------------------------------------------------------------------
  await signIn(DPA_TOKEN);
  await page.goto(`${DPA_URL}/ui/services/example-datasource`);
  await page.getByRole('heading', { name: 'Request console' }).waitFor();
  const row = page.getByTestId('target-default/example');
  await row.waitFor();
  await row.getByRole('button', { name: 'Test default/example' }).click();
  const health = page.getByTestId('health-default/example');
  await health.waitFor();
  assert((await health.textContent()).startsWith('OK'), `Test (health) on datasource "example" shows OK (${await health.textContent()})`);

  // A query with the prefilled body (real namespace and uid), with a few rows.
  const prefix = await page.getByTestId('console-prefix').textContent();
  assert(prefix === `/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/query`, `the console's query URL has the real namespace and uid (${prefix})`);
  const body = JSON.parse(await page.locator('#console-body').inputValue());
  body.queries[0].scenario = 'table';
  body.queries[0].points = 5;
  await page.locator('#console-body').fill(JSON.stringify(body, null, 2));
  const curl = await page.getByTestId('console-curl').textContent();
  assert(curl.includes(`'${DPA_URL}/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/query'`), 'the curl command has the real URL');
  assert(curl.includes('Bearer $TOKEN') && !curl.includes(DPA_TOKEN) && !/dpa_session|Cookie/i.test(curl), 'the curl command has a $TOKEN placeholder and no credential');
  const queryResp = page.waitForResponse((r) => r.url().endsWith('/datasources/example/query') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Send' }).click();
  assert((await queryResp).status() === 200, 'the query went to dpa and answered 200');
  await page.getByTestId('console-status').waitFor();
  assert((await page.getByTestId('console-status').textContent()).includes('HTTP 200'), 'the console shows HTTP 200');
  assert(/\d+ ms/.test(await page.getByTestId('console-latency').textContent()), 'the console shows the latency');
  const frame = page.getByTestId('frame-table').first();
  await frame.waitFor();
  const rows = await frame.locator('tbody tr').count();
  assert(rows === 5, `the answer's frame is a table with its rows (${rows})`);
  assert((await frame.locator('thead th').allTextContents()).join(',') === 'time,float,int,string,bool,nullable', 'the frame table has the fields as columns');
  await page.getByText(/Response headers/).click();
  assert((await page.getByRole('table', { name: 'Response headers' }).textContent()).includes('content-type'), 'the response headers are shown');
  await shoot('query');
  await shootPart('query-console', page.locator('section[aria-labelledby="console-h"]'));
  // Send a few more (for the metrics below).
  for (let i = 0; i < 4; i++) {
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('console-status').waitFor();
  }

  // A resource call: echo with a query string, through the resource endpoint.
  await pick('console-endpoint', 'resource ·');
  await page.waitForFunction(() => document.querySelector('[data-testid="console-prefix"]')?.textContent?.endsWith('/resource/'));
  await page.locator('#console-suffix').fill('echo?x=1');
  const resResp = page.waitForResponse((r) => r.url().includes('/datasources/example/resource/echo?x=1'));
  await page.getByRole('button', { name: 'Send' }).click();
  assert((await resResp).status() === 200, 'the resource call answered 200');
  const echoed = await page.getByTestId('console-body-text').textContent();
  assert(echoed.includes('"path": "/echo"') && echoed.includes('"x"'), 'the resource answer (the echo) is shown');
  assert((await page.getByTestId('console-curl').textContent()).includes(`${DPA_URL}/apis/${DS_GROUP}/v0alpha1/namespaces/default/datasources/example/resource/echo?x=1`), 'curl follows the endpoint and suffix');
  await shoot('resource');

  // Per-service metrics for the admin: the queries above show up as traffic.
  const qm = page.getByTestId('metrics-query').first();
  await qm.waitFor({ timeout: 30000 });
  let text = '';
  for (let i = 0; i < 60; i++) {
    text = await qm.textContent();
    if (!text.startsWith('0/s')) {
      break;
    }
    // keep some traffic going until a sample window holds it
    await page.getByRole('button', { name: 'Send' }).click();
    await page.waitForTimeout(500);
  }
  assert(/^\d/.test(text) && /5xx/.test(text) && /p95/.test(text), `metrics are shown beside the query service (${text})`);
  const rm = await page.getByTestId('metrics-resource').first().textContent();
  assert(/\/s/.test(rm), `metrics beside the resource service (${rm})`);
  await shoot('metrics');

  // Layout: 25 routes, no horizontal overflow at 1366 and 800 px.
  await page.evaluate(() => window.scrollTo(0, 0));
  await noOverflow(1366);
  await shoot('1366');
  await shootPart('services-1366', page.locator('section[aria-labelledby="services-h"] tbody tr').nth(0).locator('xpath=ancestor::table'));
  await noOverflow(800);
  await shoot('800');
  await shootPart('console-800', page.locator('section[aria-labelledby="console-h"]'));
  await page.setViewportSize({ width: 1366, height: 900 });

  // The app plugin: one instance per namespace.
  await page.goto(`${DPA_URL}/ui/services/example-app`);
  const appRow = page.getByTestId('target-default');
  await appRow.waitFor();
  await appRow.getByRole('button', { name: 'Test default' }).click();
  await page.getByTestId('health-default').waitFor();
  assert((await page.getByTestId('health-default').textContent()).startsWith('OK'), 'Test on the app instance in default shows OK');
  assert((await page.getByTestId('console-prefix').textContent()).startsWith('/apis/example.app.grafana.app/v0alpha1/namespaces/default/'), 'the app console URL has the real namespace');

  // --- Viewer --------------------------------------------------------------------------------
  await signIn(DPA_VIEWER_TOKEN);
  let metricsCalls = 0;
  page.on('request', (r) => new URL(r.url()).pathname === '/metrics' && metricsCalls++);
  await page.goto(`${DPA_URL}/ui/services/example-datasource`);
  await page.getByTestId('target-default/example').waitFor();
  await page.getByTestId('metrics-hint').waitFor();
  await page.waitForTimeout(3500);
  assert((await page.getByTestId('metrics-query').count()) === 0, 'a Viewer sees no metrics, only the hint');
  assert(metricsCalls === 0, `the UI did not ask /metrics for the Viewer (${metricsCalls})`);
  assert((await page.locator('[role="alert"]').count()) === 0, 'and no error');
  // Admission needs a server admin: not offered to the Viewer, with the reason.
  assert((await page.getByTestId('console-not-offered').textContent()).includes('admission'), 'calls the Viewer may not make are not offered');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByTestId('console-status').waitFor();
  assert((await page.getByTestId('console-status').textContent()).includes('HTTP 200'), 'a Viewer (datasources:query by default) can query');
  await noOverflow(800);
  await shoot('viewer-800');
  assert(axeViolations.length === 0, `axe-core finds no violations on the console in either theme${axeViolations.length ? ':\n  ' + axeViolations.join('\n  ') : ''}`);
} catch (e) {
  failures++;
  console.error(`FAIL: ${e instanceof AssertionError ? e.message : e.stack || e}`);
  try {
    await page.screenshot({ path: path.join(OUT, 'console-failure.png'), fullPage: true });
  } catch {}
} finally {
  for (const n of created) {
    await admin('DELETE', `${API}/${n}`).catch(() => {});
  }
  await close();
}

const relevantErrors = consoleErrors.filter((t) => !/status of 4\d\d|Failed to load resource/.test(t));
if (relevantErrors.length) {
  console.error('browser console errors:\n  ' + relevantErrors.join('\n  '));
}
if (failures) {
  console.error(`console e2e FAILED (screenshots in ${OUT})`);
  process.exit(1);
}
log(`console e2e passed; screenshots in ${OUT}`);
