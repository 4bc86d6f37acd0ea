#!/usr/bin/env bash
# The runtime image's entrypoint: start what an environment offers, then run the command.
#
#   DLLAB_SSH_KEYS   OpenSSH public keys, one per line: when set, sshd runs as `dev` on
#                    DLLAB_SSH_PORT (default 2222), keys only, and lets these keys in
#   DLLAB_S3_VOLUMES S3 prefixes to copy in first (dllab-s3-copy)
#   JUPYTERHUB_*     set by JupyterHub: dllab-activity reports SSH sessions and busy
#                    kernels every DLLAB_ACTIVITY_SECONDS (default 60)
#   DLLAB_ARTIFACTS_S3  a job replica's place in the S3 artifact store (dllab-artifacts):
#                    pulled first (code, checkpoints to resume from), pushed every
#                    DLLAB_ARTIFACTS_EVERY s (default 10) while the command runs and once
#                    more when it ends; DLLAB_ARTIFACTS_SYNC=pull only follows the logs
#                    (a job's TensorBoard); DLLAB_ARTIFACTS_SYNC=once pulls once and runs
#                    the command, nothing pushed (a service replica: the prefix is the
#                    model's folder, and DLLAB_ARTIFACTS_ONLY=<version> pulls that version
#                    folder only, to /dllab/artifacts/<version>)
#
# sshd runs as dev, not root: it can let in no one else. Its host key lives in the
# workspace, so a restarted environment keeps it and clients see no "host key changed".
# sshd gives sessions a clean environment: what they must see as the notebook does (the
# GPUs, the Python, the environment's name) is written to ~/.ssh/environment.
set -euo pipefail

if [[ -n ${DLLAB_SSH_KEYS:-} ]]; then
    state=$HOME/work/.dllab
    mkdir -p "$state" "$HOME/.ssh"
    chmod 700 "$state" "$HOME/.ssh"
    printf '%s\n' "$DLLAB_SSH_KEYS" > "$HOME/.ssh/authorized_keys"
    chmod 600 "$HOME/.ssh/authorized_keys"
    env | grep -E '^(PATH|VIRTUAL_ENV|LANG|LC_[A-Z]+|NVIDIA_[A-Z_]+|CUDA_[A-Z_]+|TF_[A-Z_]+|DLLAB_ENVIRONMENT)=' \
        > "$HOME/.ssh/environment" || true
    chmod 600 "$HOME/.ssh/environment"
    [[ -f $state/ssh_host_ed25519_key ]] ||
        ssh-keygen -q -t ed25519 -N '' -C "dllab environment" -f "$state/ssh_host_ed25519_key"
    /usr/sbin/sshd -e -p "${DLLAB_SSH_PORT:-2222}" -h "$state/ssh_host_ed25519_key" \
        -o PidFile="$state/sshd.pid" -o AuthorizedKeysFile=.ssh/authorized_keys \
        -o PermitUserEnvironment=yes
fi

# S3 volumes are copied in first, with progress on the log; a failed copy ends the start.
if [[ -n ${DLLAB_S3_VOLUMES:-} ]]; then
    dllab-s3-copy
    unset DLLAB_S3_VOLUMES  # it holds credentials: the notebook has no need of them
fi

# Under JupyterHub: report the use JupyterLab cannot see (SSH sessions, busy kernels), so
# that idle culling spares it.
if [[ -n ${JUPYTERHUB_ACTIVITY_URL:-} && -n ${JUPYTERHUB_API_TOKEN:-} ]]; then
    dllab-activity &
fi

# Job replicas with an S3 artifact store. The credentials stay with dllab-artifacts: the
# command does not inherit them.
if [[ -n ${DLLAB_ARTIFACTS_S3:-} ]]; then
    store=$DLLAB_ARTIFACTS_S3
    export -n DLLAB_ARTIFACTS_S3
    if [[ ${DLLAB_ARTIFACTS_SYNC:-push} == once ]]; then
        DLLAB_ARTIFACTS_S3=$store dllab-artifacts pull \
            ${DLLAB_ARTIFACTS_ONLY:+--only "$DLLAB_ARTIFACTS_ONLY"}
        exec "$@"
    fi
    DLLAB_ARTIFACTS_S3=$store dllab-artifacts pull
    if [[ ${DLLAB_ARTIFACTS_SYNC:-push} == pull ]]; then
        DLLAB_ARTIFACTS_S3=$store dllab-artifacts pull --every 10 --only logs &
        exec "$@"
    fi
    DLLAB_ARTIFACTS_S3=$store dllab-artifacts push --every "${DLLAB_ARTIFACTS_EVERY:-10}" &
    syncing=$!
    "$@" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null' TERM INT
    status=0
    wait "$child" || status=$?
    while kill -0 "$child" 2>/dev/null; do  # woken by the trap: wait for the real end
        status=0
        wait "$child" || status=$?
    done
    kill "$syncing" 2>/dev/null || true
    wait "$syncing" 2>/dev/null || true
    # What it made must reach the store: a command that succeeded fails if it cannot.
    if ! DLLAB_ARTIFACTS_S3=$store dllab-artifacts push && ((status == 0)); then
        status=3
    fi
    exit "$status"
fi

exec "$@"
