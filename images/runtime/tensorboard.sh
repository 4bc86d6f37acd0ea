#!/usr/bin/env bash
# TensorBoard for jupyter-server-proxy, which starts it on the first visit to
# <server>/tensorboard/ and passes the port and prefix as arguments.
#   DLLAB_TENSORBOARD_LOGDIR   the folder it watches (default ~/work/logs)
set -euo pipefail
logdir=${DLLAB_TENSORBOARD_LOGDIR:-$HOME/work/logs}
mkdir -p "$logdir"
exec tensorboard --logdir "$logdir" --host 127.0.0.1 "$@"
