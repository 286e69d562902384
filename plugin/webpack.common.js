// Shared webpack rules for the Grafana plugin bundle and the standalone bundle.
const path = require('path');

module.exports.rules = (target) => [
  {
    test: /\.[tj]sx?$/,
    exclude: /node_modules/,
    use: {
      loader: 'swc-loader',
      options: {
        jsc: {
          baseUrl: path.resolve(__dirname, 'src'),
          target: 'es2020',
          loose: false,
          parser: { syntax: 'typescript', tsx: true, decorators: false, dynamicImport: true },
          transform: { react: { runtime: 'classic' } },
        },
      },
    },
  },
  // @grafana/ui ships .mjs files that import without extensions.
  { test: /\.m?js$/, include: /node_modules/, resolve: { fullySpecified: false } },
  { test: /\.css$/, use: ['style-loader', 'css-loader'] },
  {
    test: /\.(png|jpe?g|gif|svg|woff2?|ttf|eot)$/,
    type: 'asset/resource',
    generator: { filename: target === 'plugin' ? 'img/[hash][ext]' : 'build/assets/[hash][ext]' },
  },
];

module.exports.resolve = {
  extensions: ['.ts', '.tsx', '.js', '.jsx', '.mjs', '.json'],
};
