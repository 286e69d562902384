// Must run before @grafana/ui renders: icons load from __grafana_public_path__ + 'build/img/icons/'.
declare global {
  interface Window {
    __grafana_public_path__?: string;
  }
}
export const UI_BASE = '/ui';
window.__grafana_public_path__ = `${UI_BASE}/`;
export {};
