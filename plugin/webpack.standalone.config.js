// Standalone UI bundle served by `dpa` at /ui/ (pkg/ui embeds ../pkg/ui/dist).
// Everything is bundled (no Grafana host); icons are copied to build/img/icons/.
const path = require('path');
const CopyWebpackPlugin = require('copy-webpack-plugin');
const { rules, resolve } = require('./webpack.common');

const OUT = process.env.DPA_UI_OUT || path.resolve(__dirname, '../pkg/ui/dist');

module.exports = (env, argv) => ({
  mode: argv.mode || 'production',
  context: path.join(__dirname, 'src'),
  devtool: false,
  entry: { app: './standalone/index.tsx' },
  output: {
    // Keep the committed placeholder files of pkg/ui/dist.
    clean: { keep: /(^|\/)(README|\.gitignore)$/ },
    filename: 'build/[name].[contenthash:8].js',
    chunkFilename: 'build/[name].[contenthash:8].js',
    path: OUT,
    publicPath: '/ui/',
  },
  optimization: { splitChunks: false },
  module: { rules: rules('standalone') },
  resolve,
  performance: { hints: false },
  plugins: [
    new CopyWebpackPlugin({
      patterns: [
        { from: path.resolve(__dirname, 'node_modules/@grafana/ui/dist/public/img/icons'), to: 'build/img/icons' },
        { from: 'img/logo.svg', to: 'build/img/logo.svg' },
        // Grafana serves this icon from its own public folder; @grafana/ui's package lacks it.
        { from: 'standalone/img/spinner.svg', to: 'build/img/icons/unicons/spinner.svg' },
      ],
    }),
    new (require('./scripts/html-plugin'))(),
  ],
});
