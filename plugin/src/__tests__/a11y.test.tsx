// Keyboard, labels, URL wrapping and assets: skip links on the list, the theme toggle's
// label, URLs that wrap only after "/", and every icon the UI names shipped with the bundle.
import React from 'react';
import fs from 'fs';
import path from 'path';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FakeServer, dps, renderApp } from './harness';
import { urlSegments } from '../api/urls';
import { MessageText, UrlText } from '../components/UrlText';
import { themeLabel, ThemeToggle } from '../standalone/ThemeToggle';
import { SkipLinkHost, SkipLinks } from '../components/SkipLinks';

describe('skip links on the list', () => {
  it('are the first focusable elements and move focus to the table and the pager', async () => {
    const server = new FakeServer(Array.from({ length: 60 }, (_, i) => dps(`svc-${String(i).padStart(2, '0')}`)));
    renderApp(server);
    await screen.findByTestId('row-svc-00');
    await userEvent.tab();
    expect(document.activeElement).toHaveTextContent('Skip to table');
    await userEvent.tab();
    expect(document.activeElement).toHaveTextContent('Skip to pager');
    await userEvent.keyboard('{Enter}');
    expect(document.activeElement).toBe(screen.getByRole('navigation', { name: 'Pages' }));
    await userEvent.tab();
    expect(screen.getByRole('navigation', { name: 'Pages' })).toContainElement(document.activeElement as HTMLElement);
    await userEvent.click(screen.getByText('Skip to table'));
    expect(document.activeElement).toBe(screen.getByRole('table', { name: 'Data plane services' }));
  });

  it('offer no pager link when there is one page', async () => {
    renderApp(new FakeServer([dps('only')]));
    await screen.findByTestId('row-only');
    const links = within(screen.getByTestId('skip-links')).getAllByRole('link');
    expect(links.map((l) => l.textContent)).toEqual(['Skip to table']);
  });

  it('standalone, come before the header', async () => {
    // The host puts them before everything it wraps (standalone: the header with its links).
    const { container } = render(
      <SkipLinkHost>
        <header>
          <a href="/ui/">Data Plane Aggregator</a>
        </header>
        <main>
          <SkipLinks links={[{ label: 'Skip to table', target: 't' }]} />
        </main>
      </SkipLinkHost>
    );
    const first = container.querySelector('a');
    expect(await screen.findByText('Skip to table')).toBe(first);
  });
});

describe('theme toggle', () => {
  it('says the theme in use, and what pressing it does', async () => {
    expect(themeLabel('dark')).toEqual({ text: 'Theme: dark', label: 'Theme: dark (switch to light)' });
    expect(themeLabel('light')).toEqual({ text: 'Theme: light', label: 'Theme: light (switch to dark)' });
    const toggle = jest.fn();
    render(<ThemeToggle mode="dark" onToggle={toggle} />);
    const b = screen.getByRole('button', { name: 'Theme: dark (switch to light)' });
    expect(b).toHaveTextContent('Theme: dark');
    await userEvent.click(b);
    expect(toggle).toHaveBeenCalled();
  });
});

describe('URLs wrap only after "/"', () => {
  it('splits after each slash, keeping the text', () => {
    const u = '/apis/g.grafana.app/v1/namespaces/{namespace}/datasources/{uid}/a-long-segment?x=1';
    const segs = urlSegments(u);
    expect(segs).toEqual(['/', 'apis/', 'g.grafana.app/', 'v1/', 'namespaces/', '{namespace}/', 'datasources/', '{uid}/', 'a-long-segment?x=1']);
    expect(segs.join('')).toBe(u);
    expect(urlSegments('https://h:6443/x/')).toEqual(['https:/', '/', 'h:6443/', 'x/']);
    expect(urlSegments('')).toEqual([]);
  });

  it('renders unbreakable segments with a <wbr> after each "/"', () => {
    const { container } = render(<UrlText text="/apis/g/v1/{uid}/a-b" />);
    const el = container.firstElementChild as HTMLElement;
    expect(el.textContent).toBe('/apis/g/v1/{uid}/a-b');
    expect(el.querySelectorAll('wbr')).toHaveLength(5);
    // Every <wbr> directly follows a segment ending in "/".
    el.querySelectorAll('wbr').forEach((w) => expect(w.previousElementSibling?.textContent?.endsWith('/')).toBe(true));
  });

  it('keeps a message\'s words whole: paths wrap after "/", hyphenated words not at all', () => {
    const text = 'group/version /apis/e2e-taken.grafana.app/v1 is already claimed by e2e-blocker-x';
    const { container } = render(
      <p>
        <MessageText text={text} />
      </p>
    );
    const p = container.firstElementChild as HTMLElement;
    expect(p.textContent).toBe(text);
    expect([...p.querySelectorAll('[data-url]')].map((e) => e.textContent)).toEqual(['group/version', '/apis/e2e-taken.grafana.app/v1']);
    const whole = [...p.querySelectorAll('span:not([data-url]) ')].filter((e) => !e.closest('[data-url]')).map((e) => e.textContent);
    expect(whole).toEqual(['e2e-blocker-x']);
  });

  it('shows full route paths on the detail page (no "…" truncation)', async () => {
    const long = '/namespaces/{namespace}/datasources/{uid}/a-rather-long-custom-route-segment/with/{several}/{placeholders}/and-more';
    const server = new FakeServer([dps('alpha-ds', { services: [{ type: 'route', method: 'GET', path: long }] })]);
    renderApp(server, '/services/alpha-ds', false);
    const table = await screen.findByRole('table', { name: 'Services' });
    const urls = table.querySelectorAll('[data-url]');
    expect([...urls].map((u) => u.textContent)).toEqual([long, `/apis/alpha-ds.grafana.app/v0alpha1${long}`]);
  });
});

describe('assets', () => {
  it('every icon the UI names is in the standalone bundle (no 404 for an icon)', () => {
    const src = path.join(__dirname, '..');
    const files: string[] = [];
    const walk = (d: string) =>
      fs.readdirSync(d, { withFileTypes: true }).forEach((e) => {
        const p = path.join(d, e.name);
        if (e.isDirectory() && e.name !== '__tests__' && e.name !== 'generated') {
          walk(p);
        } else if (/\.tsx?$/.test(e.name)) {
          files.push(p);
        }
      });
    walk(src);
    const names = new Set<string>();
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      // icon="x" / icon: 'x' (Button, Badge…), <Icon name=…> and <IconButton name="x">, the icon
      // functions' `return 'x' as const` and the *_ICON tables.
      for (const m of text.matchAll(/\bicon[=:]\s*\{?\s*['"]([a-z0-9-]+)['"]/g)) {
        names.add(m[1]);
      }
      for (const m of text.matchAll(/<Icon(?:Button)?\s+name=(\{[^}]*\}|"[^"]*")/g)) {
        for (const q of m[1].matchAll(/['"]([a-z0-9-]+)['"]/g)) {
          names.add(q[1]);
        }
      }
      for (const m of text.matchAll(/return '([a-z0-9-]+)' as const/g)) {
        names.add(m[1]);
      }
      for (const m of text.matchAll(/_ICON\s*=\s*\{([^}]*)\}/g)) {
        for (const q of m[1].matchAll(/'([a-z0-9-]+)'/g)) {
          names.add(q[1]);
        }
      }
    }
    const icons = path.join(__dirname, '..', '..', 'node_modules', '@grafana', 'ui', 'dist', 'public', 'img', 'icons', 'unicons');
    const extra = path.join(__dirname, '..', 'standalone', 'img');
    const missing = [...names].filter((n) => !fs.existsSync(path.join(icons, `${n}.svg`)) && !fs.existsSync(path.join(extra, `${n}.svg`)));
    expect(names.size).toBeGreaterThan(15);
    expect(names).toContain('vial');
    expect(missing).toEqual([]);
  });
});
