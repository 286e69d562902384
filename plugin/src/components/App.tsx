import React from 'react';
import { useNav, matchRoute } from '../context';
import { ListPage } from '../pages/ListPage';
import { DetailPage } from '../pages/DetailPage';
import { EditPage } from '../pages/EditPage';
import { PluginsPage } from '../pages/PluginsPage';
import { PageLayout } from './PageLayout';
import { AppLink } from './Link';

/** Routes shared by the Grafana app page and the standalone host. */
export function Routes() {
  const { path } = useNav();
  let m: Record<string, string> | null;
  if (path === '/' || path === '' || path === '/services') {
    return <ListPage />;
  }
  if (path === '/plugins') {
    return <PluginsPage />;
  }
  if (path === '/new') {
    return <EditPage key="new" />;
  }
  if ((m = matchRoute('/services/:name/edit', path))) {
    return <EditPage key={`edit-${m.name}`} name={m.name} />;
  }
  if ((m = matchRoute('/services/:name', path))) {
    return <DetailPage key={m.name} name={m.name} />;
  }
  return (
    <PageLayout title="Page not found">
      <p>
        Nothing lives at <code>{path}</code>. <AppLink to="/">Back to the list</AppLink>
      </p>
    </PageLayout>
  );
}
