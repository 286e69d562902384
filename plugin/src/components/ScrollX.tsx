import React, { useEffect, useRef, useState } from 'react';
import { css, cx } from '@emotion/css';

const scroll = css({ overflowX: 'auto', maxWidth: '100%', minWidth: 0 });

/**
 * ScrollX holds a table that must not break its words: when the table is wider than the
 * page, it scrolls sideways inside this box instead of squeezing its columns. While it does
 * scroll it is a keyboard stop (arrow keys scroll it) with label as its name.
 */
export function ScrollX({ label, className, children }: { label: string; className?: string; children: React.ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    const check = () => setScrolls(el.scrollWidth > el.clientWidth + 1);
    const ro = new ResizeObserver(check);
    ro.observe(el);
    if (el.firstElementChild) {
      ro.observe(el.firstElementChild);
    }
    check();
    return () => ro.disconnect();
  }, []);
  return (
    <div
      ref={ref}
      className={cx(scroll, className)}
      {...(scrolls ? { tabIndex: 0, role: 'region', 'aria-label': `${label} (scrolls sideways)` } : {})}
    >
      {children}
    </div>
  );
}
