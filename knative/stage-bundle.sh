#!/bin/sh
# Copies what one image ships into OUTDIR: the built bundle (dist/, from `node esbuild.config.mjs --only=...`) and
# its native addon when it has one; no source maps, no metafile. Used by knative/Dockerfile, and by
# tests/deploy/image.test.ts, which runs the staged files alone as the container would.
#   knative/stage-bundle.sh <function>|migrate OUTDIR
# Every image starts /app/index.mjs; the migrate image's index.mjs only imports migrate.mjs, which the Job runs.
set -eu
fn="${1:?usage: stage-bundle.sh <function>|migrate OUTDIR}"
out="${2:?usage: stage-bundle.sh <function>|migrate OUTDIR}"
mkdir -p "$out"
if [ "$fn" = migrate ]; then
  src=dist/tools
  test -f "$src/migrate.mjs" || { echo "no $src/migrate.mjs: run node esbuild.config.mjs --only=tools" >&2; exit 1; }
  cp "$src/migrate.mjs" "$out/"
  echo "import './migrate.mjs';" > "$out/index.mjs"
else
  src="dist/functions/$fn"
  test -f "$src/index.mjs" || { echo "no $src/index.mjs: is $fn a folder of functions/?" >&2; exit 1; }
  cp "$src/index.mjs" "$out/"
fi
if [ -f "$src/bcrypt.node" ]; then cp "$src/bcrypt.node" "$out/"; fi
