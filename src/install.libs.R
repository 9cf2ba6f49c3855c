# Installs the package's shared library into libs/, the MPI communicator library (built
# only where configure found MPI) into libs/mpi/, where dist_init() opens it at run time,
# and the CUDA backend library (built only where configure found CUDA) into libs/cuda/,
# where R/cuda.R opens it. (Without this file R copies every src/*.so into libs/, and
# R CMD check would take those for package libraries that register no routines.)
dest <- file.path(R_PACKAGE_DIR, paste0("libs", R_ARCH))
dir.create(dest, recursive = TRUE, showWarnings = FALSE)
file.copy(paste0("symnet", SHLIB_EXT), dest, overwrite = TRUE)
if (file.exists("symbols.rds")) file.copy("symbols.rds", dest, overwrite = TRUE)
if (file.exists("symnet_mpi.so")) {
  dir.create(file.path(dest, "mpi"), showWarnings = FALSE)
  file.copy("symnet_mpi.so", file.path(dest, "mpi"), overwrite = TRUE)
}
if (file.exists("symnet_cuda.so")) {
  dir.create(file.path(dest, "cuda"), showWarnings = FALSE)
  file.copy("symnet_cuda.so", file.path(dest, "cuda"), overwrite = TRUE)
}
