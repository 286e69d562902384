import React from 'react';
import { css, cx } from '@emotion/css';
import { urlSegments } from '../api/urls';

const styles = {
  // Never inside a segment (not at "-", not in {uid}); a segment too long for its box makes
  // the box scroll (tables) rather than break it.
  url: css({ overflowWrap: 'normal', wordBreak: 'keep-all' }),
  segment: css({ whiteSpace: 'nowrap' }),
};

/**
 * UrlText shows a URL or path that wraps only after a "/": each segment is unbreakable and a
 * <wbr> follows each "/". The text (copy, find, screen readers) is the URL unchanged.
 */
export function UrlText({ text, className, ...rest }: { text: string; className?: string } & React.HTMLAttributes<HTMLElement>) {
  return (
    <span className={cx(styles.url, className)} data-url="" {...rest}>
      {urlSegments(text).map((seg, i) => (
        <React.Fragment key={i}>
          <span className={styles.segment}>{seg}</span>
          {seg.endsWith('/') && <wbr />}
        </React.Fragment>
      ))}
    </span>
  );
}

const nowrap = css({ whiteSpace: 'nowrap' });

/**
 * MessageText shows a server's message (a condition, a Status, a health check) so that it
 * wraps between words and after the "/" of a path in it, never inside a word: browsers
 * would also break "e2e-taken.grafana.app" after its "-". The text is unchanged.
 */
export function MessageText({ text }: { text: string }) {
  return (
    <>
      {text.split(/(\s+)/).map((t, i) =>
        t === '' || /^\s+$/.test(t) ? (
          t
        ) : t.includes('/') ? (
          <UrlText key={i} text={t} />
        ) : /[-‐]/.test(t) ? (
          <span key={i} className={nowrap}>
            {t}
          </span>
        ) : (
          t
        )
      )}
    </>
  );
}
