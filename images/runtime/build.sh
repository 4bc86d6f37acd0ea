#!/usr/bin/env bash
# Build DLLab's runtime image (images/runtime/Dockerfile) locally, no registry needed.
#
# usage: images/runtime/build.sh [--force] [--gpu] [TAG]
#        (TAG default: dllab/runtime:tf-cpu, or dllab/runtime:tf-gpu with --gpu)
#
# Skips the build when TAG was built from this Dockerfile and scripts, unless
# --force. Builds on dllab/base:bookworm (images/base/build.sh makes it). Environment knobs:
#   DLLAB_BUILD_CA      a CA bundle to trust while building (a TLS-intercepting proxy's);
#                       copied into the build context as an ignored file
#   DLLAB_TF_VERSION    the TensorFlow version (default 2.21.0, what the catalogue's
#                       default entry says)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FORCE=0 GPU=0 TAG=
for arg in "$@"; do
    case $arg in
        --force) FORCE=1 ;;
        --gpu) GPU=1 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $arg" >&2; exit 2 ;;
        *) TAG=$arg ;;
    esac
done
if ((GPU)); then PACKAGE=tensorflow; TAG=${TAG:-dllab/runtime:tf-gpu}
else PACKAGE=tensorflow-cpu; TAG=${TAG:-dllab/runtime:tf-cpu}; fi

T0=$SECONDS
phase() { printf '[runtime-image +%3ds] %s\n' $((SECONDS - T0)) "$*"; }

# The image records what it was built from: a changed Dockerfile or script rebuilds.
# File modes count too: a script copied in without its x bit cannot run.
CONTEXT=$( (cat "$HERE/Dockerfile" "$HERE"/*.sh "$HERE"/*.py "$HERE"/*.json
            cd "$HERE" && stat -c '%n %a' ./*.sh ./*.py; echo "${DLLAB_TF_VERSION:-}") |
          sha256sum | cut -c1-16)
built=$(docker image inspect -f '{{index .Config.Labels "dllab.context"}}' "$TAG" 2>/dev/null || true)
if ((!FORCE)) && [[ $built == "$CONTEXT" ]]; then
    phase "$TAG is up to date, skipping (use --force to rebuild)"
    exit 0
fi
args=(--network host --build-arg "TF_PACKAGE=$PACKAGE"
      --build-arg "TF_VERSION=${DLLAB_TF_VERSION:-2.21.0}" --label "dllab.context=$CONTEXT" -t "$TAG")
if [[ -n ${DLLAB_BUILD_CA:-} ]]; then
    cp "$DLLAB_BUILD_CA" "$HERE/.build-ca.pem"
    trap 'rm -f "$HERE/.build-ca.pem"' EXIT
    args+=(--build-arg EXTRA_CA_CERT=.build-ca.pem)
fi
phase "building $TAG ($PACKAGE; pip downloads about 1.5 GB the first time)"
docker build "${args[@]}" "$HERE"
phase "built $TAG: $(docker image inspect -f '{{.Size}}' "$TAG" | numfmt --to=iec) ($(docker run --rm "$TAG" python3 -c 'import tensorflow as tf; print("TensorFlow", tf.__version__)'))"
