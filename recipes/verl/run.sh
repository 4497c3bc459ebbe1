#!/usr/bin/env bash
# HGPO with verl 0.9 on ALFWorld or WebShop, Qwen2.5-1.5B-Instruct, the published settings (needs GPUs).
#
#   MODEL_PATH=/models/Qwen2.5-1.5B-Instruct N_GPUS=2 recipes/verl/run.sh alfworld [key=value ...]
#   MODEL_PATH=... recipes/verl/run.sh webshop estimator=gigpo        # or K=4 for the K=4 runs
#
# Writes the task files (one row per reset seed), starts one WebShop server for all workers (webshop),
# then runs verl's PPO entry point with hgpo registered in every Ray worker. Extra arguments are verl
# (Hydra) overrides; `K=4` sets both HGPO's K and the memory window, `estimator=NAME` the estimator.
set -euo pipefail
cd "$(dirname "$0")/../.."

ENV_NAME=${1:?usage: recipes/verl/run.sh alfworld|webshop [K=N] [estimator=NAME] [hydra overrides...]}
shift
: "${MODEL_PATH:?set MODEL_PATH to a local Qwen2.5-1.5B-Instruct folder}"
PY=${PYTHON:-python}
OUT=${OUT:-out/verl/$ENV_NAME}
PORT=${WEBSHOP_PORT:-3000}

K=2
overrides=()
for arg in "$@"; do
  case $arg in
    K=*) K=${arg#K=} ;;
    estimator=*) overrides+=("algorithm.adv_estimator=${arg#estimator=}") ;;
    *) overrides+=("$arg") ;;
  esac
done

case $ENV_NAME in
  alfworld) CONFIG=hgpo_alfworld ENV_ID=hgpo/ALFWorld-v0 ;;
  webshop) CONFIG=hgpo_webshop ENV_ID=hgpo/WebShop-v0 ;;
  *) echo "unknown environment '$ENV_NAME' (alfworld or webshop)" >&2; exit 2 ;;
esac

"$PY" -m hgpo.integrations.verl.tasks --env "$ENV_ID" --out "$OUT" --train "${N_TRAIN:-1024}" --val "${N_VAL:-128}"

if [ "$ENV_NAME" = webshop ]; then
  hgpo webshop serve --port "$PORT" ${WEBSHOP_ARGS:-} &
  server=$!
  trap 'kill "$server" 2>/dev/null || true' EXIT
  for _ in $(seq 120); do
    curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { echo "the WebShop server exited" >&2; exit 1; }
    sleep 1
  done
  overrides+=("hgpo.env.env_kwargs.server_url=http://127.0.0.1:$PORT")
fi

"$PY" -m hgpo.integrations.verl.main \
  --config-path "$PWD/recipes/verl/config" --config-name "$CONFIG" \
  data.train_files="$OUT/train.parquet" data.val_files="$OUT/val.parquet" \
  actor_rollout_ref.model.path="$MODEL_PATH" \
  trainer.n_gpus_per_node="${N_GPUS:-2}" \
  hgpo.estimator_options.K="$K" hgpo.env.history_length="$K" \
  trainer.default_local_dir="$OUT/checkpoints" \
  "${overrides[@]}"
