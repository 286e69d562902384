// Writes index.html referencing the hashed bundle (a tiny stand-in for html-webpack-plugin).
class IndexHtmlPlugin {
  apply(compiler) {
    compiler.hooks.thisCompilation.tap('IndexHtmlPlugin', (compilation) => {
      compilation.hooks.processAssets.tap(
        { name: 'IndexHtmlPlugin', stage: compiler.webpack.Compilation.PROCESS_ASSETS_STAGE_SUMMARIZE },
        () => {
          const files = [];
          for (const chunk of compilation.entrypoints.get('app').chunks) {
            for (const f of chunk.files) {
              if (f.endsWith('.js')) {
                files.push(f);
              }
            }
          }
          const publicPath = compilation.outputOptions.publicPath;
          const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data Plane Aggregator</title>
<link rel="icon" href="${publicPath}build/img/logo.svg">
${files.map((f) => `<script defer src="${publicPath}${f}"></script>`).join('\n')}
</head>
<body>
<noscript>The Data Plane Aggregator UI needs JavaScript.</noscript>
<div id="root"></div>
</body>
</html>
`;
          compilation.emitAsset('index.html', new compiler.webpack.sources.RawSource(html));
        }
      );
    });
  }
}
module.exports = IndexHtmlPlugin;
