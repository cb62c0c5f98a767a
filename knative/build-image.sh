#!/bin/sh
# Skaffold's custom builder for one artifact: `knative/build-image.sh <function>|migrate`.
# Skaffold sets IMAGE (the tag to build), PUSH_IMAGE and BUILD_CONTEXT. Which artifact gets rebuilt is decided by
# the dependency paths in skaffold.yaml, so an edit under functions/items/ rebuilds the items image only.
set -eu
fn="${1:?usage: build-image.sh <function>|migrate}"
docker build \
  --file knative/Dockerfile \
  --build-arg FUNCTION="$fn" \
  --tag "${IMAGE:?IMAGE is set by skaffold}" \
  "${BUILD_CONTEXT:-.}"
if [ "${PUSH_IMAGE:-false}" = "true" ]; then
  docker push "$IMAGE"
fi
