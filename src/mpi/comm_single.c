/* The communicator of a build without MPI: one process. */
#include <string.h>

#include "mpi/comm.h"

int cli_comm_open(int *argc, char ***argv, nmt_comm *comm)
{
    (void)argc, (void)argv;
    memset(comm, 0, sizeof *comm);
    comm->size = 1;
    return 0;
}

void cli_comm_close(nmt_comm *comm, int failed) { (void)comm, (void)failed; }

const char *cli_comm_library(void) { return "none (built without mpicc)"; }
