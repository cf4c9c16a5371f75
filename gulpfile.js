// Builds the dashboard from src/ into flamenco/static/dist/ (gitignored):
//   templates/  Jinja templates, copied as they are (Flask renders them)
//   assets/     dashboard.css (Sass) and dashboard.js (esbuild bundle)
// `npx gulp build` builds once; `npx gulp watch` rebuilds on changes.
"use strict";

const { src, dest, series, parallel, watch } = require("gulp");
const sass = require("gulp-sass")(require("sass"));
const esbuild = require("esbuild");
const fs = require("fs");

const DIST = "flamenco/static/dist";
const production = process.env.NODE_ENV !== "development";

function clean(done) {
  fs.rmSync(DIST, { recursive: true, force: true });
  done();
}

function templates() {
  return src("src/templates/**/*.html").pipe(dest(`${DIST}/templates`));
}

function styles() {
  return src("src/styles/dashboard.scss")
    .pipe(sass({ style: production ? "compressed" : "expanded" }).on("error", sass.logError))
    .pipe(dest(`${DIST}/assets`));
}

function scripts() {
  return esbuild.build({
    entryPoints: ["src/scripts/dashboard.js"],
    bundle: true,
    minify: production,
    sourcemap: true,
    format: "iife",
    target: ["es2020"],
    outfile: `${DIST}/assets/dashboard.js`,
    logLevel: "warning",
  });
}

const build = series(clean, parallel(templates, styles, scripts));

function watchSources() {
  watch("src/templates/**/*.html", templates);
  watch("src/styles/**/*.scss", styles);
  watch("src/scripts/**/*.js", scripts);
}

exports.build = build;
exports.watch = series(build, watchSources);
exports.default = build;
