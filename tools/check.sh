#!/bin/sh
# R CMD build + R CMD check --no-manual, offline-friendly.
#
#   sh tools/check.sh [extra R CMD check args, e.g. --as-cran]
#
# CRAN-clean means: with --as-cran (and checkbashisms + qpdf installed) no ERROR, no WARNING,
# and only the NOTEs that are not the package's own: "New submission" and, offline, the
# URL checks; "installed package size" with R's default -g (see README: R CMD INSTALL
# --strip).
#
# Works in build/check/ (ignored by git and R CMD build). The repos option points at an empty
# local CRAN-like repository, so check does not try (and fail) to reach CRAN for
# available.packages(). Prints the check's "Status:" line last; exit status 1 unless the check
# finished with Status: OK (NOTEs are reported but do not fail, WARNINGs and ERRORs do).
# Environment: SYMNET_JOBS (default 2) compile jobs; SYMNET_CUDA/SYMNET_OPENMP reach configure.

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

# --as-cran runs checkbashisms on configure/cleanup (a WARNING without it) and qpdf on PDFs.
for a in "$@"; do
  if test "$a" = --as-cran; then
    command -v checkbashisms >/dev/null 2>&1 ||
      echo "check: WARNING: no checkbashisms (Debian: apt-get install devscripts); --as-cran will warn"
    command -v qpdf >/dev/null 2>&1 ||
      echo "check: WARNING: no qpdf (Debian: apt-get install qpdf); --as-cran will note it"
  fi
done
JOBS=${SYMNET_JOBS:-2}
WORK="${ROOT}/build/check"

rm -rf "${WORK}"
mkdir -p "${WORK}/repo/src/contrib" || exit 1
: > "${WORK}/repo/src/contrib/PACKAGES"
printf 'options(repos = c(CRAN = "file://%s/repo"))\n' "${WORK}" > "${WORK}/Rprofile"

R_PROFILE_USER="${WORK}/Rprofile"
_R_CHECK_SYSTEM_CLOCK_=0
_R_CHECK_CRAN_INCOMING_REMOTE_=false
# CRAN's incoming checks run locally (DESCRIPTION, licence, spelling, size of the tarball),
# without the remote parts (URLs, the CRAN database); _R_CHECK_CRAN_INCOMING_=false skips them.
_R_CHECK_CRAN_INCOMING_=${_R_CHECK_CRAN_INCOMING_:-true}
_R_CHECK_FORCE_SUGGESTS_=false
MAKEFLAGS="-j${JOBS}"
export R_PROFILE_USER _R_CHECK_SYSTEM_CLOCK_ _R_CHECK_CRAN_INCOMING_REMOTE_ \
  _R_CHECK_CRAN_INCOMING_ _R_CHECK_FORCE_SUGGESTS_ MAKEFLAGS

# R CMD build needs src/RcppExports.cpp (committed; regenerate in case the glue changed).
Rscript -e 'invisible(Rcpp::compileAttributes("."))' || exit 1

cd "${WORK}" || exit 1
t0=$(date +%s)
R CMD build "${ROOT}" || { echo "check: R CMD build failed"; exit 1; }
tarball=$(ls -t symnet_*.tar.gz 2>/dev/null | sed -n '1p')
test -n "${tarball}" || { echo "check: no tarball produced"; exit 1; }

R CMD check --no-manual "$@" "${tarball}"
rc=$?
log="${WORK}/symnet.Rcheck/00check.log"
echo "check: R CMD build + check took $(($(date +%s) - t0)) s; log: ${log}"
status=$(grep '^Status:' "${log}" 2>/dev/null | tail -n 1)
if test -z "${status}"; then
  echo "Status: check did not finish (exit status ${rc})"
  exit 1
fi
echo "${status}"
case "${status}" in
  *ERROR*|*WARNING*) exit 1 ;;
esac
test "${rc}" = 0
