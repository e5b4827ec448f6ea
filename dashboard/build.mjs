// Builds the dashboard into central/dashboard/static: one JS and one CSS bundle with a content
// hash in their names, and index.html referring to them. build-info.json records the hash of the
// sources, so a test can tell (without Node) that the committed bundle is not stale.

import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { constants, gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = join(here, "..", "central", "dashboard", "static");
const assets = join(out, "assets");
// Swagger UI and ReDoc for central's /docs and /redoc (central/apidocs), copied as their
// maintainers distribute them, at the versions pinned in package-lock.json: served by central,
// so that the API documentation works on a network without internet.
const apidocs = join(here, "..", "central", "apidocs", "static");

const UNIT_DECIMALS = "../central/unit_decimals.json";
const REASONS = "../central/kpi/reasons.json";

/** SHA-256 over the sources and the pinned dependencies; tests/central/test_dashboard.py
 * computes the same. */
export function sourceHash() {
  const hash = createHash("sha256");
  const files = [
    ...readdirSync(src).sort().map((name) => join("src", name)),
    "package.json",
    "package-lock.json",
    "build.mjs",
    UNIT_DECIMALS, // bundled by format.js
    REASONS, // bundled by i18n.js
  ];
  for (const name of files) {
    hash.update(name.replaceAll("\\", "/"));
    hash.update("\0");
    hash.update(readFileSync(join(here, name)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

const short = (text) => createHash("sha256").update(text).digest("hex").slice(0, 12);

const result = await esbuild.build({
  entryPoints: [join(src, "main.js")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  legalComments: "linked",
  write: false,
  outdir: assets,
  logLevel: "warning",
});
const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
const license = result.outputFiles.find((f) => f.path.endsWith(".LEGAL.txt"));
const css = (await esbuild.build({ entryPoints: [join(src, "style.css")], bundle: true, minify: true, write: false, outdir: assets })).outputFiles[0];

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const jsName = `dashboard-${short(js.contents)}.js`;
const cssName = `dashboard-${short(css.contents)}.css`;
let code = js.text;
if (license) {
  writeFileSync(join(assets, "THIRD-PARTY-LICENSES.txt"), license.contents);
  code = code.replace(/\/\/# debugId=.*$|\/\*! For license information.*?\*\/\n?/gm, "");
}
writeFileSync(join(assets, jsName), code);
writeFileSync(join(assets, cssName), css.contents);
// Pre-compressed copies, served by central to browsers that accept gzip (central/dashboard): the
// bundle shrinks to about a third and central spends no CPU compressing it per request. zlib's
// gzip header carries no timestamp, so the same sources give the same bytes.
const gzipped = {};
for (const name of [jsName, cssName]) {
  const body = gzipSync(readFileSync(join(assets, name)), { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(join(assets, `${name}.gz`), body);
  gzipped[name] = body.length;
}
const page = readFileSync(join(src, "index.html"), "utf8")
  .replace("{{js}}", `assets/${jsName}`)
  .replace("{{css}}", `assets/${cssName}`);
writeFileSync(join(out, "index.html"), page);
const info = { source_sha256: sourceHash(), js: `assets/${jsName}`, css: `assets/${cssName}`, js_bytes: js.contents.length, js_gzip_bytes: gzipped[jsName] };
writeFileSync(join(out, "build-info.json"), JSON.stringify(info, null, 2) + "\n");
console.log(
  `dashboard: ${jsName} (${(js.contents.length / 1024).toFixed(0)} KiB, gzip ${(gzipped[jsName] / 1024).toFixed(0)} KiB), ${cssName}`,
);

/** Copies the pinned Swagger UI and ReDoc distributions (with their licences) into central. */
function copyApiDocs() {
  const modules = join(here, "node_modules");
  const files = {
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-ui-LICENSE.txt": "swagger-ui-dist/LICENSE",
    "favicon-32x32.png": "swagger-ui-dist/favicon-32x32.png",
    "redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
    "redoc.standalone.js.LICENSE.txt": "redoc/bundles/redoc.standalone.js.LICENSE.txt",
    "redoc-LICENSE.txt": "redoc/LICENSE",
  };
  rmSync(apidocs, { recursive: true, force: true });
  mkdirSync(apidocs, { recursive: true });
  for (const [name, from] of Object.entries(files)) copyFileSync(join(modules, from), join(apidocs, name));
  const version = (pkg) => JSON.parse(readFileSync(join(modules, pkg, "package.json"), "utf8")).version;
  const versions = { "swagger-ui-dist": version("swagger-ui-dist"), redoc: version("redoc") };
  writeFileSync(join(apidocs, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
  console.log(`api docs: swagger-ui-dist ${versions["swagger-ui-dist"]}, redoc ${versions.redoc}`);
}
copyApiDocs();
