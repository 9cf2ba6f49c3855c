#!/bin/sh
# Runs the CNN benchmark of issue 14 (cnn.R against cnn_torch.py) in one go and prints
# the figures, the ratios and the targets. Each network, side and thread count runs in its
# own process (peak RSS is that run's). See README.md in this folder.
#
#   sh inst/benchmarks/run-cnn.sh            # full: ~10 minutes on a 2-core machine
#   sh inst/benchmarks/run-cnn.sh --quick    # ~2 minutes: a step or two per network
#
# Options: --quick, --threads "1 2" (both sides), --nets "vgg resnet18 mobilenet",
# --no-profile (skip symnet's sym_profile() table of one training step per network),
# --omp-passive (OMP_WAIT_POLICY=passive: on a loaded machine PyTorch's spinning OpenMP
# threads wreck its 2-thread runs), --skip-torch, --skip-symnet, --log DIR.
# Environment: PYTHON (default /usr/bin/python3, Debian's python3-torch and
# python3-torchvision), RSCRIPT (default Rscript).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
RSCRIPT=${RSCRIPT:-Rscript}
threads="1 2"
nets="vgg resnet18 mobilenet"
quick=0
profile=1
skip_torch=0
skip_symnet=0
log=${TMPDIR:-/tmp}/symnet-cnn-$$

while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --threads) threads=$2; shift 2 ;;
    --nets) nets=$2; shift 2 ;;
    --no-profile) profile=0; shift ;;
    --omp-passive) OMP_WAIT_POLICY=passive; export OMP_WAIT_POLICY; shift ;;
    --skip-torch) skip_torch=1; shift ;;
    --skip-symnet) skip_symnet=1; shift ;;
    --log) log=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run-cnn.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$log"
res=$log/results.txt   # "side net threads key value" lines gathered from every run
: >"$res"

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo NA; }
# per-network arguments of both scripts (the scripts' own defaults are the full run's)
net_args() {
  if [ "$quick" = 1 ]; then
    case $1 in
      vgg) echo "--steps 8 --warmup-steps 2 --eval-reps 1" ;;
      resnet18) echo "--steps 1 --warmup-steps 1 --eval-images 64 --eval-batch 64 --eval-reps 1" ;;
      mobilenet) echo "--mobilenet-reps 2" ;;
    esac
  fi
}
last_t=$(echo "$threads" | awk '{ print $NF }')

# run SIDE NET THREADS [TAG]: one process; its "key value" lines go to $res
run() {
  side=$1; net=$2; t=$3
  f=$log/$side-$net-$t${4:-}.txt
  extra=$(net_args "$net")
  # symnet's slowest kernels: one step (one predict() call for mobilenet) after the timed
  # ones, in the run at the last thread count
  if [ "$side" = symnet ] && [ "$profile" = 1 ] && [ "$net" != gemm ] && [ "$t" = "$last_t" ]; then
    extra="$extra --profile 1"
  fi
  echo "# $side $net, $t thread(s): loadavg before $(loadavg)"
  if [ "$side" = torch ]; then
    set -- "$PYTHON" "$here/cnn_torch.py"
  else
    set -- "$RSCRIPT" "$here/cnn.R"
  fi
  # shellcheck disable=SC2086
  if ! "$@" --net "$net" --threads "$t" $extra >"$f" 2>&1; then
    echo "# $side $net run failed, see $f" >&2; tail -5 "$f" >&2; return 0
  fi
  grep -v '^#' "$f" | grep -E '_per_s|gflops|rss' | sed 's/^/#   /'
  grep -v '^#' "$f" | awk -v s="$side" -v n="$net" -v t="$t" 'NF == 2 { print s, n, t, $1, $2 }' >>"$res"
}

echo "# $(uname -n), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); logs in $log"
echo "# OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; quick=$quick; threads {$threads}"
echo "# random data and weights: the figures are speeds only"
sides=""
[ "$skip_torch" = 0 ] && sides="$sides torch"
[ "$skip_symnet" = 0 ] && sides="$sides symnet"
for net in gemm $nets; do
  for side in $sides; do
    for t in $threads; do run "$side" "$net" "$t"; done
  done
done
# the GEMM ceiling again at the end (the table keeps the better of the two: on a shared
# machine one of them may have been disturbed)
for side in $sides; do
  for t in $threads; do run "$side" gemm "$t" -end; done
done
echo "# loadavg at end $(loadavg)"

# ---- profiles ---------------------------------------------------------------------
for net in $nets; do
  f=$log/symnet-$net-$last_t.txt
  if [ -f "$f" ] && grep -q 'sym_profile()' "$f"; then
    echo
    echo "# symnet $net, $last_t thread(s): slowest kernels"
    sed -n '/sym_profile()/,/end of profile/p' "$f" | grep -v 'end of profile'
  fi
done

# ---- table --------------------------------------------------------------------------
echo
awk -v nets="$nets" -v quick="$quick" '
{
  th[$3] = 1
  if ($4 == "gemm_gflops" && v[$1, $2, $3, $4] != "" && v[$1, $2, $3, $4] + 0 >= $5 + 0) next
  v[$1, $2, $3, $4] = $5
}
END {
  fmt = "%-10s %-20s %18s %18s %7s  %-8s %s\n"
  # the sgemm ceiling at each thread count: the better of the two sides
  for (t in th) {
    peak[t] = max2(v["torch", "gemm", t, "gemm_gflops"], v["symnet", "gemm", t, "gemm_gflops"])
    printf "# float32 GEMM 1024^3 at %s thread(s), best of the start and the end: torch %s, symnet %s GFLOP/s; peak taken as %s\n", t,
      nz(v["torch", "gemm", t, "gemm_gflops"]), nz(v["symnet", "gemm", t, "gemm_gflops"]), nz(peak[t])
  }
  printf "\n" fmt, "net", "figure", "torch", "symnet", "ratio", "target", "status"
  n = split(nets, ns, " ")
  for (i = 1; i <= n; i++) {
    net = ns[i]
    if (net == "mobilenet") {
      for (b = 1; b <= 64; b++) {
        key = "infer_img_per_s_b" b
        if (!has(net, key)) continue
        fig(net, "infer b" b " img/s", key, ">= 2.5x", 2.5, 1)
        gfl(net, "infer b" b " GFLOP/s", key, 1)
      }
    } else {
      fig(net, "train img/s", "train_img_per_s", ">= 1.2x", 1.2, 1)
      fig(net, "eval img/s", "eval_img_per_s", ">= 2.5x", 2.5, 1)
      # RSS of the run that trained fastest on each side
      tt = best_t("torch", net, "train_img_per_s"); st = best_t("symnet", net, "train_img_per_s")
      line(net, "train peak RSS MiB", v["torch", net, tt, "train_peak_rss_mb"], tt,
           v["symnet", net, st, "train_peak_rss_mb"], st, "<= 0.7x", 0.7, 0)
      gfl(net, "train GFLOP/s", "train_img_per_s", 3)
      gfl(net, "eval GFLOP/s", "eval_img_per_s", 1)
    }
  }
  printf "\n# ratios are symnet/torch at each side'"'"'s best thread count (shown as \"(Nt)\"); "
  printf "throughput: higher is better, RSS: lower is better.\n"
  printf "# GFLOP/s = img/s x forward FLOPs per image (2 x conv and dense multiply-adds; "
  printf "training counts 3x); %% = share of the GEMM peak at that thread count.\n"
  if (quick) printf "# --quick: one or two steps per figure; the figures are rough.\n"
}
function nz(x) { return x == "" ? "NA" : x }
function max2(a, b) { if (a == "") return b; if (b == "") return a; return a + 0 > b + 0 ? a : b }
function has(net, key,   t) { for (t in th) if (v["torch", net, t, key] != "" || v["symnet", net, t, key] != "") return 1; return 0 }
# thread count with the highest value of key for side and net ("" when none)
function best_t(side, net, key,   t, b) {
  b = ""
  for (t in th) if (v[side, net, t, key] != "" && (b == "" || v[side, net, t, key] + 0 > v[side, net, b, key] + 0)) b = t
  return b
}
function fig(net, name, key, target, goal, higher,   tt, st) {
  tt = best_t("torch", net, key); st = best_t("symnet", net, key)
  line(net, name, v["torch", net, tt, key], tt, v["symnet", net, st, key], st, target, goal, higher)
}
function cell(x, t) { return x == "" ? "NA" : sprintf("%.1f (%st)", x, t) }
function line(net, name, tv, tt, sv, st, target, goal, higher,   r, ok) {
  if (tv == "" || sv == "" || tv + 0 <= 0) { printf fmt, net, name, cell(tv, tt), cell(sv, st), "NA", target, "NA"; return }
  r = sv / tv
  ok = higher ? (r >= goal) : (r <= goal)
  printf fmt, net, name, cell(tv, tt), cell(sv, st), sprintf("%.2f", r), target, ok ? "met" : "short"
}
# achieved GFLOP/s (and share of the peak) at the best thread count of each side
function gfl(net, name, key, mult,   tt, st) {
  tt = best_t("torch", net, key); st = best_t("symnet", net, key)
  printf fmt, net, name, g("torch", net, tt, key, mult), g("symnet", net, st, key, mult), "", "(info)", ""
}
function g(side, net, t, key, mult,   x, fl) {
  x = v[side, net, t, key]; fl = v[side, net, t, "flops_per_img"]
  if (x == "" || fl == "") return "NA"
  x = x * fl * mult / 1e9
  return peak[t] > 0 ? sprintf("%.1f (%.0f%%)", x, 100 * x / peak[t]) : sprintf("%.1f", x)
}' "$res"
