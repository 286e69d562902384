import { AppPlugin } from '@grafana/data';
import { GrafanaApp } from './components/GrafanaApp';
import { AppConfig, type AppJsonData } from './components/AppConfig';

export const plugin = new AppPlugin<AppJsonData>().setRootPage(GrafanaApp).addConfigPage({
  title: 'Configuration',
  icon: 'cog',
  body: AppConfig,
  id: 'configuration',
});
