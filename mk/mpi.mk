# Data-parallel training over Open MPI: mpirun -np 2 and 3 against one
# process (tests/mpi_check.sh); part of `make check`.
.PHONY: mpi-check
mpi-check: all
	@test -n "$(MPICC)" || { echo "mpi-check: mpicc not found (scripts/install-deps.sh installs libopenmpi-dev)"; exit 1; }
	NMTRAIN=$(BUILD)/nmtrain sh tests/mpi_check.sh

CHECK_EXTRA += mpi-check
