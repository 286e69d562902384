import React from 'react';
import { Button } from '@grafana/ui';

export type Mode = 'light' | 'dark';

/** themeLabel: the toggle names the theme in use, and what pressing it does. */
export function themeLabel(mode: Mode): { text: string; label: string } {
  const other = mode === 'dark' ? 'light' : 'dark';
  return { text: `Theme: ${mode}`, label: `Theme: ${mode} (switch to ${other})` };
}

export function ThemeToggle({ mode, onToggle }: { mode: Mode; onToggle: () => void }) {
  const l = themeLabel(mode);
  return (
    <Button variant="secondary" fill="text" icon="adjust-circle" aria-label={l.label} onClick={onToggle} data-testid="theme-toggle" data-mode={mode}>
      {l.text}
    </Button>
  );
}
