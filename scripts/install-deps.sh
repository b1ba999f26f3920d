#!/bin/sh
# Installs what nmtrain needs from Debian's packages, if missing.
# Used by `make run` and `make check`; safe to run again.
set -e
packages="gcc make libc6-dev libopenblas-dev zlib1g-dev libpng-dev libcjson-dev binutils pkg-config dataset-fashion-mnist python3-numpy python3-torch python3-onnx verilator yosys"
# image-folder data sets: JPEG decoding, and PIL for the tests' reference decoder
packages="$packages libjpeg62-turbo-dev python3-pil"
# the dense anchor benchmark (bench/bench_onednn.c): oneDNN's C API
packages="$packages libdnnl-dev"
# data-parallel training: Open MPI (mpicc, mpirun)
packages="$packages libopenmpi-dev openmpi-bin"
# the fuzz harnesses (mk/fuzz.mk): clang, its libFuzzer runtime and its OpenMP
packages="$packages clang libclang-rt-14-dev libomp-14-dev"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq $missing >/dev/null
