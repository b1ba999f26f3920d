# Models leaving nmtrain (docs/export.md): the PyTorch round trip of every
# method's checkpoint and export, and the ONNX exports of every zoo model run
# through onnx.checker and the numpy runtime (tests/ref/check_exports.py).
.PHONY: export-check
export-check: all
	$(PYTHON) tests/ref/check_exports.py $(BUILD)/nmtrain

CHECK_EXTRA += export-check
