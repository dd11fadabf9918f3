#!/usr/bin/env bash
# GTAlign with OpenRLHF 0.11 on one 8-GPU node: the reward comes from `gtalign reward serve`.
# Flags checked against openrlhf/cli/train_ppo_ray.py of OpenRLHF v0.11.0 (3c3be62): 0.11 renamed every
# flag into dotted groups; older versions need the old names (--pretrain, --remote_rm_url, --prompt_data, --bf16, ...).
# Set MODEL, JUDGE_URL, JUDGE_MODEL and DATA (a verl parquet).
set -euo pipefail

MODEL=${MODEL:-Qwen/Qwen2.5-3B-Instruct}
JUDGE_URL=${JUDGE_URL:-http://127.0.0.1:8000/v1}
JUDGE_MODEL=${JUDGE_MODEL:-Qwen/Qwen3-32B}
DATA=${DATA:-train.parquet}
REWARD_PORT=${REWARD_PORT:-5000}
# Rollouts per step = ROLLOUT_BATCH x N_SAMPLES; each is one request to the reward server (0.11 scores
# every rollout as soon as it is generated). See README.md for sizing --judge-concurrency.
ROLLOUT_BATCH=${ROLLOUT_BATCH:-128}
N_SAMPLES=${N_SAMPLES:-8}
JUDGE_CONCURRENCY=${JUDGE_CONCURRENCY:-64}

gtalign data export --format openrlhf --out prompts.jsonl "$DATA"

gtalign reward serve --judge-url "$JUDGE_URL" --judge-model "$JUDGE_MODEL" \
  --judge-concurrency "$JUDGE_CONCURRENCY" --on-judge-error fail --port "$REWARD_PORT" &
REWARD_PID=$!
trap 'kill "$REWARD_PID"' EXIT
until curl -sf "http://127.0.0.1:$REWARD_PORT/healthz" >/dev/null; do sleep 1; done

python3 -m openrlhf.cli.train_ppo_ray \
  --ref.num_nodes 1 --ref.num_gpus_per_node 8 \
  --actor.num_nodes 1 --actor.num_gpus_per_node 8 \
  --critic.num_nodes 1 --critic.num_gpus_per_node 8 \
  --vllm.num_engines 8 --vllm.tensor_parallel_size 1 \
  --train.colocate_all \
  --actor.model_name_or_path "$MODEL" \
  --critic.model_name_or_path "$MODEL" \
  --reward.remote_url "http://127.0.0.1:$REWARD_PORT/get_reward" \
  --data.prompt_dataset prompts.jsonl \
  --data.input_key input \
  --data.label_key label \
  --data.apply_chat_template \
  --data.max_len 3072 \
  --rollout.max_new_tokens 1024 \
  --rollout.batch_size "$ROLLOUT_BATCH" \
  --rollout.n_samples_per_prompt "$N_SAMPLES" \
  --rollout.micro_batch_size 8 \
  --train.micro_batch_size 4 --train.batch_size 128 \
  --train.max_epochs 1 --train.num_episodes 1 \
  --algo.advantage.estimator gae \
  --actor.adam.lr 1e-6 --critic.adam.lr 1e-5 \
  --algo.kl.init_coef 0.001 \
  --ds.zero_stage 3 --ds.param_dtype bf16 --actor.gradient_checkpointing_enable \
  --ckpt.output_dir ./checkpoint/gtalign-ppo
