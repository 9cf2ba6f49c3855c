# Run by test-distributed.R as: mpirun -np 2 Rscript resume.R <out-dir>
# Training on two ranks writes a checkpoint (rank 0 only) after each epoch; training resumed
# from the epoch-2 checkpoint on two ranks continues as the uninterrupted run. The test
# resumes from the same checkpoint in one process as well.
suppressPackageStartupMessages(library(symnet))
out_dir <- commandArgs(trailingOnly = TRUE)[1]
dist_init()
r <- dist_rank()
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))), "resume-setup.R"))
dp <- strategy_data_parallel()
ref <- resume_model()
fit(ref, resume_data$x, resume_data$y, loss = "softmax_cross_entropy", optimizer = resume_optimizer(),
    batch_size = 10, epochs = 4, seed = 9, verbose = 0, strategy = dp)
ckpt <- file.path(out_dir, "ckpt-{epoch}.safetensors")
first <- resume_model()
fit(first, resume_data$x, resume_data$y, loss = "softmax_cross_entropy", optimizer = resume_optimizer(),
    batch_size = 10, epochs = 2, seed = 9, verbose = 0, strategy = dp,
    callbacks = list(callback_model_checkpoint(ckpt, monitor = "loss")))
dist_barrier()  # rank 0 has written the checkpoints
again <- load_model(file.path(out_dir, "ckpt-002.safetensors"))
fit(again, resume_data$x, resume_data$y, optimizer = resume_optimizer(), batch_size = 10, epochs = 4,
    initial_epoch = 2, seed = 9, verbose = 0, strategy = dp)
res <- list(rank = r, ref = get_weights(ref), first = get_weights(first), resumed = get_weights(again),
            files = sort(list.files(out_dir, "^ckpt")))
dist_barrier()
saveRDS(res, file.path(out_dir, sprintf("resume%d.rds", r)))
dist_finalize()
