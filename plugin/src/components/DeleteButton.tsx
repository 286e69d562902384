import React, { useEffect, useRef, useState } from 'react';
import { Button, ConfirmModal, IconButton } from '@grafana/ui';
import { useEnv } from '../context';
import { errorMessage } from '../api/errors';

interface Props {
  name: string;
  onDeleted: () => void;
  onError: (message: string) => void;
  /** 'icon' for table rows, 'button' for the detail page. */
  variant?: 'icon' | 'button';
}

/**
 * Delete with a confirmation modal; only the confirm button sends the DELETE. The dialog opens
 * with Cancel focused (Enter must not delete), and focus returns to the trigger when it closes.
 */
export function DeleteButton({ name, onDeleted, onError, variant = 'button' }: Props) {
  const { client, canWrite } = useEnv();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const trigger = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!open) {
      return;
    }
    const t = setTimeout(() => {
      const cancel = Array.from(document.querySelectorAll<HTMLButtonElement>('[role="dialog"] button')).find(
        (b) => b.textContent?.trim() === 'Cancel'
      );
      cancel?.focus();
    }, 0);
    return () => clearTimeout(t);
  }, [open]);
  if (!canWrite) {
    return null;
  }
  const dismiss = () => {
    setOpen(false);
    setTimeout(() => trigger.current?.focus(), 0);
  };
  const confirm = async () => {
    setBusy(true);
    try {
      await client.delete(name);
      setOpen(false);
      onDeleted();
    } catch (e) {
      setOpen(false);
      onError(`Could not delete ${name}: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      {variant === 'icon' ? (
        <IconButton ref={trigger} name="trash-alt" tooltip={`Delete ${name}`} aria-label={`Delete ${name}`} onClick={() => setOpen(true)} />
      ) : (
        <Button ref={trigger} variant="destructive" icon="trash-alt" onClick={() => setOpen(true)}>
          Delete
        </Button>
      )}
      <ConfirmModal
        isOpen={open}
        title={`Delete ${name}?`}
        body={`The DataPlaneService "${name}" will be removed and the plugin's routes unregistered from the aggregator.`}
        confirmText={busy ? 'Deleting…' : 'Delete'}
        confirmationText={undefined}
        onConfirm={confirm}
        onDismiss={dismiss}
      />
    </>
  );
}
