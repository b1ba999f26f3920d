# Models leaving nmtrain: the PyTorch round trip of every method's checkpoint
# and export (tests/ref/check_exports.py). Debian's interpreter, whose
# python3-torch, python3-onnx and python3-numpy scripts/install-deps.sh installs.
PYTHON ?= /usr/bin/python3

.PHONY: export-check
export-check: all
	$(PYTHON) tests/ref/check_exports.py $(BUILD)/nmtrain

CHECK_EXTRA += export-check
