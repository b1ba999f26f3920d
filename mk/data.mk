# Image-folder data: `make data-fixtures` rewrites the RandomResizedCrop
# fixture from torchvision (Debian's python3-torchvision; not needed by CI).
.PHONY: data-fixtures
data-fixtures:
	$(PYTHON) tests/ref/image_ref.py crops tests/fixtures/rrc_params.txt
