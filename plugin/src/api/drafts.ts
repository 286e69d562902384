import type { DataPlaneService } from './types';

/**
 * Unsaved edits, kept in sessionStorage (this tab only) while a form is open, so that a
 * session that ends mid-edit — the sign-in page, then back — or a reload loses nothing.
 * Cleared when the edit is saved or discarded.
 */
const PREFIX = 'dpa.draft.';

export interface Draft {
  obj: DataPlaneService;
  savedAt: string;
}

function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}

/** draftKey: 'new' for the create form, else the object's name. */
export function draftKey(name?: string): string {
  return PREFIX + (name === undefined ? 'new' : `edit.${name}`);
}

export function saveDraft(key: string, obj: DataPlaneService) {
  try {
    storage()?.setItem(key, JSON.stringify({ obj, savedAt: new Date().toISOString() } satisfies Draft));
  } catch {
    // Storage full or disabled: the form still works, only without the safety net.
  }
}

export function loadDraft(key: string): Draft | undefined {
  try {
    const raw = storage()?.getItem(key);
    if (!raw) {
      return undefined;
    }
    const d = JSON.parse(raw) as Draft;
    return d && d.obj && d.obj.spec && d.obj.metadata ? d : undefined;
  } catch {
    return undefined;
  }
}

export function clearDraft(key: string) {
  try {
    storage()?.removeItem(key);
  } catch {}
}
