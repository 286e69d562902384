import React from 'react';
import { css, cx } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { useStyles2 } from '@grafana/ui';
import { useNav } from '../context';

type Props = Omit<React.AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string };

/**
 * An in-app link: a real href (so open-in-new-tab works) plus client-side navigation on plain
 * clicks. (Grafana's TextLink needs a react-router context, which the standalone host lacks.)
 */
export function AppLink({ to, children, className, ...rest }: Props) {
  const nav = useNav();
  const styles = useStyles2(getStyles);
  return (
    <a
      href={nav.href(to)}
      className={cx(styles.link, className)}
      onClick={(e) => {
        if (e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey) {
          e.preventDefault();
          nav.navigate(to);
        }
      }}
      {...rest}
    >
      {children}
    </a>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  link: css({
    color: theme.colors.text.link,
    textDecoration: 'none',
    '&:hover': { textDecoration: 'underline' },
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}`, outlineOffset: 2 },
  }),
});
