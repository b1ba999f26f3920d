/*
 * nmtrain: N:M sparse neural-network training on CPUs, and a simulator of the
 * SAT sparse-training accelerator.
 *
 * This is the one header a program includes. It pulls in the parts of the
 * library, each documented in its own file under nmtrain/:
 *
 *   nmtrain/core.h     errors, arenas, random numbers, timing
 *   nmtrain/nm.h       N:M ratios, masks, the packed sparse format
 *   nmtrain/kernels.h  dense (OpenBLAS) and N:M sparse GEMM, im2col/col2im
 *   nmtrain/model.h    model descriptions (the graph the engine and the
 *                      simulator both read) and the built-in architectures
 *   nmtrain/sparsity.h the training methods and their rule: which GEMMs of
 *                      a layer are N:M (the engine and the simulator both ask)
 *   nmtrain/data.h     IDX / CIFAR data sets, augmentation, batching
 *   nmtrain/io.h       safetensors files (checkpoints, fixtures, exports)
 *   nmtrain/train.h    the network, methods, optimiser, schedules, trainer
 *   nmtrain/sim.h      the SAT accelerator simulator
 *
 * Conventions, everywhere:
 *   - Functions that can fail return 0 on success and -1 on failure; the
 *     reason is a one-line message from nmt_errmsg() that names the file or
 *     argument at fault.
 *   - Activations are stored channel-major, C x (N*H*W) ("CNHW"), so every
 *     convolution and linear layer is one GEMM  Y[Cout x cols] = W[Cout x K] X[K x cols].
 *   - The reduction index K of a convolution is ordered (kh, kw, ci), so the
 *     input-channel groups of an N:M mask are contiguous in memory.
 */
#ifndef NMTRAIN_H
#define NMTRAIN_H

#include "nmtrain/core.h"
#include "nmtrain/nm.h"
#include "nmtrain/kernels.h"
#include "nmtrain/model.h"
#include "nmtrain/sparsity.h"
#include "nmtrain/data.h"
#include "nmtrain/io.h"
#include "nmtrain/train.h"
#include "nmtrain/sim.h"

#endif
