// Grafana app plugin bundle: dist/module.js (AMD), with Grafana's shared libraries as externals.
const path = require('path');
const CopyWebpackPlugin = require('copy-webpack-plugin');
const { rules, resolve } = require('./webpack.common');
const pkg = require('./package.json');

const PLUGIN_ID = 'dataplane-aggregator-app';
const today = new Date().toISOString().slice(0, 10);

module.exports = (env, argv) => ({
  mode: argv.mode || 'production',
  context: path.join(__dirname, 'src'),
  devtool: argv.mode === 'development' ? 'eval-source-map' : 'source-map',
  entry: { module: './module.tsx' },
  externals: [
    'lodash',
    'jquery',
    'moment',
    'slate',
    'emotion',
    '@emotion/react',
    '@emotion/css',
    'prismjs',
    'slate-plain-serializer',
    '@grafana/slate-react',
    'react',
    'react-dom',
    'react-redux',
    'redux',
    'rxjs',
    'i18next',
    'react-router',
    'react-router-dom',
    'd3',
    'angular',
    /^@grafana\/ui/i,
    /^@grafana\/runtime/i,
    /^@grafana\/data/i,
    // Grafana's AMD loader resolves these at runtime.
    ({ request }, callback) => {
      const prefix = 'grafana/';
      if (request?.indexOf(prefix) === 0) {
        return callback(undefined, request.slice(prefix.length));
      }
      callback();
    },
  ],
  output: {
    clean: { keep: /gpx_/ },
    filename: '[name].js',
    library: { type: 'amd' },
    path: path.resolve(__dirname, 'dist'),
    publicPath: `public/plugins/${PLUGIN_ID}/`,
    uniqueName: PLUGIN_ID,
  },
  module: { rules: rules('plugin') },
  resolve,
  performance: { hints: false },
  plugins: [
    new CopyWebpackPlugin({
      patterns: [
        {
          from: 'plugin.json',
          to: '.',
          transform: (content) =>
            content.toString().replace(/%VERSION%/g, pkg.version).replace(/%TODAY%/g, today),
        },
        { from: 'img/**/*', to: '.' },
        { from: '../README.md', to: '.' },
        { from: '../CHANGELOG.md', to: '.' },
      ],
    }),
  ],
});
