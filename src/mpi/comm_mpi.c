/* The communicator over MPI: gradient buckets go out as MPI_Iallreduce
 * (summed in place), small statistics as MPI_Allreduce. For a given rank
 * count and bucket layout Open MPI's reduction algorithm, and so the order
 * of the sums, is fixed: runs repeat bit for bit. MPI starts only under a
 * launcher, so one process started by hand runs without it. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/comm.h"

#define MAX_PENDING 1024

/* How long a rank that failed waits at the exit for the others. */
#define EXIT_WAIT_SECONDS 10.0

typedef struct mpi_state {
    MPI_Request pending[MAX_PENDING];
    int n_pending;
    MPI_Comm exit_comm; /* the exit's barrier, apart from the sums a rank may still wait in */
} mpi_state;

static int sum_start(nmt_comm *comm, float *data, size_t n)
{
    mpi_state *st = comm->impl;
    if (st->n_pending == MAX_PENDING || n > (size_t)0x7fffffff) return -1;
    if (MPI_Iallreduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                       &st->pending[st->n_pending]) != MPI_SUCCESS)
        return -1;
    st->n_pending++;
    /* Open MPI moves nonblocking collectives on inside MPI calls: test the
     * ones in flight so they progress while backward goes on. */
    int done;
    MPI_Testall(st->n_pending, st->pending, &done, MPI_STATUSES_IGNORE);
    return 0;
}

static int sum_wait(nmt_comm *comm)
{
    mpi_state *st = comm->impl;
    int rc = MPI_Waitall(st->n_pending, st->pending, MPI_STATUSES_IGNORE);
    st->n_pending = 0;
    return rc == MPI_SUCCESS ? 0 : -1;
}

static int sum_doubles(nmt_comm *comm, double *data, size_t n)
{
    (void)comm;
    return MPI_Allreduce(MPI_IN_PLACE, data, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

/* Open MPI's, MPICH's/Slurm's PMI, and PMIx's variables. */
static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int cli_comm_open(int *argc, char ***argv, nmt_comm *comm)
{
    memset(comm, 0, sizeof *comm);
    comm->size = 1;
    if (!launched()) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "nmtrain: MPI_Init failed\n");
        return -1;
    }
    mpi_state *st = calloc(1, sizeof *st);
    if (!st) {
        fprintf(stderr, "nmtrain: out of memory\n");
        MPI_Finalize();
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm->size);
    MPI_Comm_dup(MPI_COMM_WORLD, &st->exit_comm);
    comm->impl = st;
    comm->sum_start = sum_start;
    comm->sum_wait = sum_wait;
    comm->sum_doubles = sum_doubles;
    return 0;
}

/* Whether every rank reached the exit within EXIT_WAIT_SECONDS (or at
 * all, when `bounded` is 0). */
static int ranks_reach_exit(mpi_state *st, int bounded)
{
    MPI_Request barrier;
    if (MPI_Ibarrier(st->exit_comm, &barrier) != MPI_SUCCESS) return 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int done = 0;
        if (MPI_Test(&barrier, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 0;
        if (done) return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (bounded && (double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec) >
                           EXIT_WAIT_SECONDS)
            return 0;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* The ranks meet at the exit. A rank that failed where the others could not
 * know it (reading its data, say, while they wait in a sum it never joins)
 * ends the whole job after EXIT_WAIT_SECONDS, as mpirun would not. */
void cli_comm_close(nmt_comm *comm, int failed)
{
    mpi_state *st = comm->impl;
    if (!st) return;
    if (!ranks_reach_exit(st, failed)) {
        fprintf(stderr, "nmtrain: rank %d failed and the other ranks did not stop with it: ending the job\n",
                comm->rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Comm_free(&st->exit_comm);
    free(st);
    comm->impl = NULL;
    MPI_Finalize();
}

const char *cli_comm_library(void)
{
    static char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    MPI_Get_library_version(version, &n);
    char *newline = strchr(version, ',');
    if (newline) *newline = 0;
    return version;
}
