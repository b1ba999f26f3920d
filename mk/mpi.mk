# Data-parallel training over Open MPI: mpirun -np 2 and 3 against one
# process (tests/mpi_check.sh); part of `make check`. With mpicc, `make bench`
# also builds bench/mpi_allreduce.c (the gradient sums' cost and their
# projection to clusters, docs/data-parallel.md).
.PHONY: mpi-check
mpi-check: all
	@test -n "$(MPICC)" || { echo "mpi-check: mpicc not found (scripts/install-deps.sh installs libopenmpi-dev)"; exit 1; }
	NMTRAIN=$(BUILD)/nmtrain sh tests/mpi_check.sh

CHECK_EXTRA += mpi-check

ifneq ($(MPICC),)
bench: $(BUILD)/bench/mpi_allreduce

$(BUILD)/bench/mpi_allreduce: bench/mpi_allreduce.c $(BUILD)/libnmtrain.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell $(MPICC) --showme:compile) -o $@ $< $(BUILD)/libnmtrain.a $(LDLIBS) $(COMM_LIBS)
endif
