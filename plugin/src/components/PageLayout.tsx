import React, { useEffect } from 'react';
import { css } from '@emotion/css';
import { PluginPage } from '@grafana/runtime';
import type { GrafanaTheme2 } from '@grafana/data';
import { useStyles2 } from '@grafana/ui';
import { useEnv } from '../context';
import { Flash } from '../flash';
import { SkipLinks, type SkipLink } from './SkipLinks';

interface Props {
  title: string;
  subTitle?: string;
  actions?: React.ReactNode;
  /** The page's skip links: first on the page (standalone: before the header). */
  skipLinks?: SkipLink[];
  children: React.ReactNode;
}

/** Grafana: PluginPage chrome with a breadcrumb; standalone: a plain heading row. */
export function PageLayout({ title, subTitle, actions, skipLinks = [], children }: Props) {
  const { chrome } = useEnv();
  const styles = useStyles2(getStyles);
  useEffect(() => {
    // Grafana's chrome titles the tab itself; standalone, each page names it.
    if (chrome === 'standalone') {
      document.title = `${title} · Data Plane Aggregator`;
    }
  }, [chrome, title]);
  if (chrome === 'grafana') {
    return (
      <PluginPage pageNav={{ text: title, subTitle }} actions={actions}>
        <div className={styles.body}>
          <SkipLinks links={skipLinks} />
          <Flash />
          {children}
        </div>
      </PluginPage>
    );
  }
  return (
    <main className={styles.main}>
      <SkipLinks links={skipLinks} />
      <div className={styles.header}>
        <div>
          <h1 className={styles.title}>{title}</h1>
          {subTitle && <div className={styles.sub}>{subTitle}</div>}
        </div>
        {actions && <div className={styles.actions}>{actions}</div>}
      </div>
      <div className={styles.body}>
        <Flash />
        {children}
      </div>
    </main>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  main: css({ padding: theme.spacing(2, 3), maxWidth: 1400, margin: '0 auto' }),
  header: css({
    display: 'flex',
    justifyContent: 'space-between',
    alignItems: 'flex-start',
    gap: theme.spacing(2),
    marginBottom: theme.spacing(2),
    flexWrap: 'wrap',
  }),
  title: css({ margin: 0, fontSize: theme.typography.h2.fontSize, overflowWrap: 'anywhere' }),
  sub: css({ color: theme.colors.text.secondary, marginTop: theme.spacing(0.5) }),
  actions: css({ display: 'flex', gap: theme.spacing(1), flexWrap: 'wrap' }),
  body: css({ display: 'flex', flexDirection: 'column', gap: theme.spacing(2) }),
});
