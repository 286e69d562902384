import React, { useRef } from 'react';
import { css, cx } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { TextArea, useStyles2 } from '@grafana/ui';

export function lineCount(text: string): number {
  return text === '' ? 1 : text.split('\n').length;
}

interface Props {
  id: string;
  value: string;
  onChange: (text: string) => void;
  /** Set by @grafana/ui's Field. */
  invalid?: boolean;
}

/**
 * The YAML view's editor: a monospace textarea with line numbers (the parser's errors name
 * lines) and the line count, lines never wrapped (indentation is the structure).
 *
 * Not @grafana/ui's CodeEditor: Monaco would add a 2.99 MB lazily loaded chunk (736 KB
 * gzipped) and ~85 language chunks to the standalone bundle (1.30 MB, 399 KB gzipped, before),
 * and it needs web workers that the standalone page does not set up (its CSP is
 * default-src 'self'): more than a YAML field is worth.
 */
export function YamlEditor({ id, value, onChange, invalid }: Props) {
  const styles = useStyles2(getStyles);
  const gutter = useRef<HTMLPreElement>(null);
  const n = lineCount(value);
  const rows = Math.min(40, Math.max(12, n + 1));
  return (
    <div>
      <div className={styles.box}>
        <pre className={styles.gutter} ref={gutter} aria-hidden="true" data-testid="yaml-gutter">
          {Array.from({ length: n }, (_, i) => i + 1).join('\n')}
        </pre>
        <TextArea
          id={id}
          rows={rows}
          value={value}
          invalid={invalid}
          spellCheck={false}
          autoCapitalize="off"
          autoCorrect="off"
          wrap="off"
          className={cx(styles.text)}
          onScroll={(e) => {
            if (gutter.current) {
              gutter.current.scrollTop = e.currentTarget.scrollTop;
            }
          }}
          onChange={(e) => onChange(e.currentTarget.value)}
        />
      </div>
      <div className={styles.count} data-testid="yaml-lines">
        {n} {n === 1 ? 'line' : 'lines'}
      </div>
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2) => {
  const lineHeight = 1.5;
  const mono = {
    fontFamily: theme.typography.fontFamilyMonospace,
    fontSize: theme.typography.bodySmall.fontSize,
    lineHeight,
  };
  return {
    box: css({ display: 'flex', alignItems: 'stretch', minWidth: 0 }),
    gutter: css({
      ...mono,
      margin: 0,
      whiteSpace: 'pre',
      // The textarea's own padding, so the numbers line up with its lines.
      padding: theme.spacing(0.5, 1),
      overflow: 'hidden',
      textAlign: 'right',
      color: theme.colors.text.secondary,
      background: theme.colors.background.secondary,
      border: `1px solid ${theme.components.input.borderColor}`,
      borderRight: 0,
      borderRadius: `${theme.shape.radius.default} 0 0 ${theme.shape.radius.default}`,
      userSelect: 'none',
      minWidth: '4ch',
      boxSizing: 'border-box',
    }),
    text: css({ ...mono, tabSize: 2, whiteSpace: 'pre', overflowX: 'auto', borderTopLeftRadius: 0, borderBottomLeftRadius: 0, flex: 1, minWidth: 0 }),
    count: css({ color: theme.colors.text.secondary, fontSize: theme.typography.bodySmall.fontSize, marginTop: theme.spacing(0.5) }),
  };
};
