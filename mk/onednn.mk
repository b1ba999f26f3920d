# oneDNN as the dense anchor (bench/bench_onednn.c): the one benchmark that
# links Debian's libdnnl (libdnnl-dev, scripts/install-deps.sh). Built by
# `make bench`, never run by `make check`.
$(BUILD)/bench/bench_onednn: LDLIBS += -ldnnl
