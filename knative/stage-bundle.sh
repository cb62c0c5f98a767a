#!/bin/sh
# Copies what one image ships into OUTDIR: the built bundle folder (dist/, from `node esbuild.config.mjs --only=...`):
# the entry (the launcher index.mjs, function.cjs and its V8 code cache, packed), its lazily loaded chunks/ (with theirs) and
# its native addon when it has one; no source maps, no metafiles. The code caches are accepted only by the Node
# binary that made them: build with the runtime image's Node version (another one still runs, compiling from source).
# Used by knative/Dockerfile, and by
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
  echo "import './migrate.mjs';" > "$out/index.mjs"
else
  src="dist/functions/$fn"
  test -f "$src/index.mjs" || { echo "no $src/index.mjs: is $fn a folder of functions/?" >&2; exit 1; }
fi
# Everything the build put beside the entry except source maps and metafiles.
(cd "$src" && find . -type f ! -name '*.map' ! -name '*meta.json') | while read -r file; do
  mkdir -p "$out/$(dirname "$file")"
  cp "$src/$file" "$out/$file"
done
