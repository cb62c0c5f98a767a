#!/bin/sh
# Copies what one image ships into OUTDIR: the built bundle (dist/, from `node esbuild.config.mjs --only=...`): the
# launcher index.mjs, function.cjs, its V8 code cache function.v8cache, the chunks it loads on demand, and its
# native addon when it has one; no source maps, no metafile. The code cache is only accepted by the Node binary
# that made it: build with the runtime image's Node version (a mismatch still runs, compiling from source). Used by knative/Dockerfile, and by
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
  cp "$src/index.mjs" "$src/function.cjs" "$src/function.v8cache" "$out/"
  if [ -d "$src/chunks" ]; then
    mkdir -p "$out/chunks"
    for file in "$src"/chunks/*.cjs "$src"/chunks/*.v8cache; do if [ -f "$file" ]; then cp "$file" "$out/chunks/"; fi; done
  fi
fi
if [ -f "$src/bcrypt.node" ]; then cp "$src/bcrypt.node" "$out/"; fi
