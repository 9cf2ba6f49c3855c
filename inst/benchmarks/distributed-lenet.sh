#!/bin/sh
# Data-parallel LeNet / Fashion-MNIST on this machine: 1 rank x 1 thread, 2 ranks x 1 thread
# (mpirun) and 1 rank x 2 threads, and a table of throughput, step time and the share of it
# spent in gradient all-reduces (distributed-lenet.R explains each figure). Not a timed test:
# on a shared machine the figures move with the load (the loadavg is printed).
#
#   sh inst/benchmarks/distributed-lenet.sh                 # 150 timed steps per run
#   sh inst/benchmarks/distributed-lenet.sh --steps 60      # quicker
#
# Environment: RSCRIPT (Rscript), MPIRUN (mpirun), SYMNET_DATA_DIR (Debian's
# dataset-fashion-mnist: /usr/share/datasets/fashion-mnist).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
RSCRIPT=${RSCRIPT:-Rscript}
MPIRUN=${MPIRUN:-mpirun}
log=${TMPDIR:-/tmp}/symnet-dist-lenet-$$
mkdir -p "$log"
mpi_flags="--oversubscribe"
[ "$(id -u)" = 0 ] && mpi_flags="$mpi_flags --allow-run-as-root"

run() {  # name, command...
  name=$1
  shift
  echo "# $name: $* (loadavg $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$@" > "$log/$name.out" 2> "$log/$name.err" || { cat "$log/$name.err" >&2; exit 1; }
  grep '^#' "$log/$name.out" >&2 || true
}
get() { awk -v k="$2" '$1 == k { print $2 }' "$log/$1.out"; }

run r1t1 "$RSCRIPT" "$here/distributed-lenet.R" --threads 1 "$@"
run r2t1 "$MPIRUN" $mpi_flags -np 2 "$RSCRIPT" "$here/distributed-lenet.R" --threads 1 "$@"
run r1t2 "$RSCRIPT" "$here/distributed-lenet.R" --threads 2 "$@"

printf '%-22s %12s %10s %10s %14s %11s\n' configuration img/s step_ms comm_ms comm_fraction overlap_ms
for c in r1t1 r2t1 r1t2; do
  printf '%-22s %12s %10s %10s %14s %11s\n' "$(get $c ranks) rank(s) x $(get $c threads) thread(s)" \
    "$(get $c train_img_per_s)" "$(get $c step_ms)" "$(get $c comm_ms_mean)" "$(get $c comm_fraction)" \
    "$(get $c overlap_ms)"
done
echo "# logs in $log; loadavg at end $(cut -d' ' -f1-3 /proc/loadavg)"
