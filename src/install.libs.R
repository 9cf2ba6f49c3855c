# Installs the package's shared library into libs/, and the MPI communicator library (built
# only where configure found MPI) into libs/mpi/, where dist_init() opens it at run time.
# (Without this file R copies every src/*.so into libs/, and R CMD check would take the
# MPI library for a second package library that registers no routines.)
dest <- file.path(R_PACKAGE_DIR, paste0("libs", R_ARCH))
dir.create(dest, recursive = TRUE, showWarnings = FALSE)
file.copy(paste0("symnet", SHLIB_EXT), dest, overwrite = TRUE)
if (file.exists("symbols.rds")) file.copy("symbols.rds", dest, overwrite = TRUE)
if (file.exists("symnet_mpi.so")) {
  dir.create(file.path(dest, "mpi"), showWarnings = FALSE)
  file.copy("symnet_mpi.so", file.path(dest, "mpi"), overwrite = TRUE)
}
