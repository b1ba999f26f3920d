# Models leaving nmtrain (docs/export.md): the PyTorch round trip of every
# method's checkpoint and export, and the ONNX exports of every zoo model run
# through onnx.checker and the numpy runtime (tests/ref/check_exports.py).
# Debian's interpreter, with the python3-torch, python3-onnx and
# python3-numpy that scripts/install-deps.sh installs.
PYTHON ?= /usr/bin/python3

.PHONY: export-check
export-check: all
	$(PYTHON) tests/ref/check_exports.py $(BUILD)/nmtrain

CHECK_EXTRA += export-check
