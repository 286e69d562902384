import React, { createContext, useContext, useState } from 'react';
import { createPortal } from 'react-dom';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { useStyles2 } from '@grafana/ui';

const SlotContext = createContext<HTMLElement | null>(null);

/**
 * SkipLinkHost puts a slot for a page's skip links before everything it wraps (standalone:
 * before the header), so they are the first things Tab reaches. Without a host (inside
 * Grafana, whose chrome has its own skip link) the links stay at the top of the page.
 */
export function SkipLinkHost({ children }: { children: React.ReactNode }) {
  const [slot, setSlot] = useState<HTMLElement | null>(null);
  return (
    <>
      <div ref={setSlot} />
      <SlotContext.Provider value={slot}>{children}</SlotContext.Provider>
    </>
  );
}

export interface SkipLink {
  label: string;
  /** id of the element to move to; it needs tabIndex -1 to take focus. */
  target: string;
}

/** Links, hidden until focused, that move focus past the content before their targets. */
export function SkipLinks({ links }: { links: SkipLink[] }) {
  const slot = useContext(SlotContext);
  const styles = useStyles2(getStyles);
  if (links.length === 0) {
    return null;
  }
  const nav = (
    <nav aria-label="Skip links" className={styles.nav} data-testid="skip-links">
      {links.map((l) => (
        <a
          key={l.target}
          href={`#${l.target}`}
          className={styles.link}
          onClick={(e) => {
            const el = document.getElementById(l.target);
            if (el) {
              e.preventDefault();
              el.scrollIntoView?.({ block: 'start' });
              el.focus({ preventScroll: true });
            }
          }}
        >
          {l.label}
        </a>
      ))}
    </nav>
  );
  return slot ? createPortal(nav, slot) : nav;
}

const getStyles = (theme: GrafanaTheme2) => ({
  nav: css({ position: 'relative', height: 0 }),
  link: css({
    position: 'absolute',
    left: theme.spacing(1),
    top: theme.spacing(1),
    zIndex: theme.zIndex.modal,
    padding: theme.spacing(1, 2),
    background: theme.colors.background.primary,
    color: theme.colors.text.link,
    border: `2px solid ${theme.colors.primary.main}`,
    borderRadius: theme.shape.radius.default,
    whiteSpace: 'nowrap',
    // Off screen until focused (keyboard users see where they are).
    '&:not(:focus)': { clip: 'rect(0 0 0 0)', clipPath: 'inset(50%)', width: 1, height: 1, overflow: 'hidden', padding: 0, border: 0 },
  }),
});
