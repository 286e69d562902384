import React, { useEffect, useState } from 'react';
import { Alert } from '@grafana/ui';

// A one-shot confirmation ("Created x", "Deleted x") shown by the next page that renders it:
// the action navigates away, so the page it lands on says what happened.
let current: string | null = null;
const listeners = new Set<(m: string | null) => void>();

/** flash sets the confirmation the next page shows. */
export function flash(message: string) {
  current = message;
  listeners.forEach((l) => l(current));
}

/** Flash renders the pending confirmation as a polite live region until dismissed. */
export function Flash() {
  const [message, setMessage] = useState<string | null>(current);
  useEffect(() => {
    listeners.add(setMessage);
    return () => {
      listeners.delete(setMessage);
    };
  }, []);
  if (!message) {
    return null;
  }
  return (
    <div role="status" aria-live="polite" data-testid="flash">
      <Alert
        title={message}
        severity="success"
        onRemove={() => {
          current = null;
          setMessage(null);
        }}
      />
    </div>
  );
}
