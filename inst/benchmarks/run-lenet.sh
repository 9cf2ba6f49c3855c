#!/bin/sh
# Runs the LeNet / Fashion-MNIST benchmark with PyTorch (1 and 2 threads) and
# symnet in one go and prints the figures, the ratios and the targets of
# issue 3 (section 5). See README.md in this folder.
#
#   sh inst/benchmarks/run-lenet.sh                  # full: 2 epochs each
#   sh inst/benchmarks/run-lenet.sh --max-steps 100  # quick look (accuracy meaningless)
#
# Options: --epochs E (2), --max-steps S (0: whole epochs), --threads N (symnet's
# threads, default 2; a list such as "1 2" runs each and keeps the fastest),
# --torch-threads "1 2", --eval-batch B (1000, both sides), --omp-passive
# (OMP_WAIT_POLICY=passive for both: on a loaded machine spinning OpenMP
# threads wreck both frameworks' 2-thread runs), --skip-torch, --skip-symnet, --log DIR.
# Environment: PYTHON (default /usr/bin/python3, Debian's python3-torch),
# RSCRIPT (default Rscript), SYMNET_DATA_DIR (default /usr/share/datasets/fashion-mnist).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
RSCRIPT=${RSCRIPT:-Rscript}
epochs=2
max_steps=0
threads=2
eval_batch=1000
torch_threads="1 2"
skip_torch=0
skip_symnet=0
log=${TMPDIR:-/tmp}/symnet-lenet-$$

while [ $# -gt 0 ]; do
  case $1 in
    --epochs) epochs=$2; shift 2 ;;
    --max-steps) max_steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --eval-batch) eval_batch=$2; shift 2 ;;
    --torch-threads) torch_threads=$2; shift 2 ;;
    --omp-passive) OMP_WAIT_POLICY=passive; export OMP_WAIT_POLICY; shift ;;
    --skip-torch) skip_torch=1; shift ;;
    --skip-symnet) skip_symnet=1; shift ;;
    --log) log=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run-lenet.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$log"

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo NA; }
# value of KEY in FILE ("key value" lines), NA when absent
val() { awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "NA" : v) }' "$2" 2>/dev/null || echo NA; }

echo "# $(uname -n), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); logs in $log"
echo "# OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)}"
common="--epochs $epochs --max-steps $max_steps --eval-batch $eval_batch"
figs='^(train_img_per_s|eval_img_per_s|train_img_per_cpu_s|eval_img_per_cpu_s|test_accuracy|peak_rss_mb)' 

# ---- PyTorch ------------------------------------------------------------------
best_train=NA; best_eval=NA; torch_rss=NA; torch_acc=NA; torch_t=NA; best_tc=NA; best_ec=NA
if [ "$skip_torch" = 0 ]; then
  for t in $torch_threads; do
    f=$log/torch-$t.txt
    echo "# torch, $t thread(s): loadavg before $(loadavg)"
    if ! "$PYTHON" "$here/lenet_torch.py" --threads "$t" $common >"$f" 2>&1; then
      echo "# torch run failed, see $f" >&2; tail -5 "$f" >&2; continue
    fi
    grep -E "$figs" "$f" | sed 's/^/#   /'
    tr=$(val train_img_per_s "$f"); ev=$(val eval_img_per_s "$f")
    tc=$(val train_img_per_cpu_s "$f"); ec=$(val eval_img_per_cpu_s "$f")
    # the better run (by training throughput) gives RSS and accuracy;
    # each throughput is compared with the best of the runs
    if [ "$best_train" = NA ] || awk "BEGIN { exit !($tr > $best_train) }"; then
      best_train=$tr; torch_t=$t; torch_rss=$(val peak_rss_mb "$f"); torch_acc=$(val test_accuracy "$f")
    fi
    if [ "$best_eval" = NA ] || awk "BEGIN { exit !($ev > $best_eval) }"; then best_eval=$ev; fi
    if [ "$best_tc" = NA ] || awk "BEGIN { exit !($tc > $best_tc) }"; then best_tc=$tc; fi
    if [ "$best_ec" = NA ] || awk "BEGIN { exit !($ec > $best_ec) }"; then best_ec=$ec; fi
  done
fi

# ---- symnet -------------------------------------------------------------------
s_train=NA; s_eval=NA; s_rss=NA; s_acc=NA; s_tc=NA; s_ec=NA; s_t=NA
if [ "$skip_symnet" = 0 ]; then
  for t in $threads; do
    f=$log/symnet-$t.txt
    echo "# symnet, $t thread(s): loadavg before $(loadavg)"
    if ! "$RSCRIPT" "$here/lenet.R" --threads "$t" $common >"$f" 2>&1; then
      echo "# symnet run failed, see $f" >&2; tail -5 "$f" >&2; continue
    fi
    grep -E "$figs" "$f" | sed 's/^/#   /'
    tr=$(val train_img_per_s "$f")
    # several thread counts (--threads "1 2"): the run with the best training throughput
    if [ "$s_train" = NA ] || awk "BEGIN { exit !($tr > $s_train) }"; then
      s_t=$t; s_train=$tr; s_eval=$(val eval_img_per_s "$f")
      s_tc=$(val train_img_per_cpu_s "$f"); s_ec=$(val eval_img_per_cpu_s "$f")
      s_rss=$(val peak_rss_mb "$f"); s_acc=$(val test_accuracy "$f")
    fi
  done
fi
echo "# loadavg at end $(loadavg)"

# ---- table --------------------------------------------------------------------
echo
awk -v tt="$torch_t" -v tr="$best_train" -v te="$best_eval" -v trss="$torch_rss" -v tacc="$torch_acc" \
    -v sr="$s_train" -v se="$s_eval" -v srss="$s_rss" -v sacc="$s_acc" -v st="$s_t" \
    -v ms="$max_steps" -v tc="$best_tc" -v ec="$best_ec" -v stc="$s_tc" -v sec="$s_ec" 'BEGIN {
  fmt = "%-16s %14s %14s %8s  %-9s %s\n"
  printf fmt, "figure", "torch(" tt "t)", "symnet(" st "t)", "ratio", "target", "status"
  row("train img/s", tr, sr, ">= 2x", 1, 2)
  row("eval img/s", te, se, ">= 2x", 1, 2)
  row("peak RSS MiB", trss, srss, "<= 0.7x", 0, 0.7)
  acc = (sacc == "NA") ? "NA" : (sacc >= 0.88 ? "ok" : "SHORT")
  if (ms > 0 && acc != "NA") acc = acc " (max-steps run)"
  printf fmt, "test accuracy", tacc, sacc, "", ">= 0.88", acc
  row("train img/cpu-s", tc, stc, "(info)", 1, 0)
  row("eval img/cpu-s", ec, sec, "(info)", 1, 0)
}
function row(name, t, s, target, higher, goal,   r, ok) {
  if (t == "NA" || s == "NA" || t + 0 <= 0) { printf fmt, name, t, s, "NA", target, "NA"; return }
  r = s / t
  ok = higher ? (r >= goal) : (r <= goal)
  printf fmt, name, t, s, sprintf("%.2f", r), target, goal == 0 ? "" : (ok ? "ok" : "SHORT")
}'
echo
echo "# ratios are symnet/torch; throughput: higher is better, RSS: lower is better."
echo "# torch throughputs: best over threads {$torch_threads}; torch RSS and accuracy: the run with the best training throughput."
echo "# img/cpu-s: images per second of process CPU time (all threads): a cross-check on a loaded machine."
echo "# eval batch $eval_batch on both sides."
