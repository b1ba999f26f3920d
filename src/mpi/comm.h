/* The command's communicator: MPI when nmtrain is built with mpicc and
 * started by a launcher (mpirun, srun), else one process. */
#ifndef NMT_MPI_COMM_H
#define NMT_MPI_COMM_H

#include "nmtrain.h"

/* Fills *comm (rank 0 of 1 without a launcher or without MPI). Returns 0,
 * or -1 after printing why MPI could not start. */
int cli_comm_open(int *argc, char ***argv, nmt_comm *comm);
/* `failed`: this rank's command failed; under a launcher a rank that failed
 * alone ends the job rather than leave the others waiting. */
void cli_comm_close(nmt_comm *comm, int failed);
/* "MPI (Open MPI v4.1.4)" or "none". */
const char *cli_comm_library(void);

#endif
