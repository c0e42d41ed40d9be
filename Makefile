# Every target is one line: the logic lives in release/ (python -m release) and checks/ (pytest).
# Variables come from the command line, the environment or .env: TYPE NAME STAGE DRY_RUN FORCE
# BUILD NO_BUILD CHECK SINCE IMAGES LOCK_TIMEOUT LOCK_ID BACKUP VERSION IMAGE_REGISTRY PIN_DIGESTS SKIP_IMAGE_CHECK N
# PORT TEST_PORTS TEST_TIMEOUT TEST_JOBS PART PRE.
PYTHON ?= python3
RELEASE = $(PYTHON) -m release
export TYPE NAME STAGE DRY_RUN FORCE BUILD NO_BUILD CHECK SINCE IMAGES LOCK_TIMEOUT LOCK_ID BACKUP VERSION IMAGE_REGISTRY \
	PIN_DIGESTS SKIP_IMAGE_CHECK N PORT TEST_PORTS TEST_TIMEOUT TEST_JOBS PART PRE

.DEFAULT_GOAL := help
.PHONY: help bootstrap base-images new list validate tests sync-compose bump build build-all test test-all push \
	build-registry package-registry publish-registry publish-registry-direct download-registry \
	remove-publish-lock restore-registry unpublish list-published doctor ci-pipeline bench moto-server

help: ; @$(RELEASE) help
bootstrap: ; bash scripts/bootstrap.sh
base-images: ; bash scripts/base-images.sh
new: ; $(RELEASE) new
list: ; @$(RELEASE) list
validate: ; PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PYTHON) -m pytest checks/ -p xdist -p no:cacheprovider -p no:logging -p no:warnings -p no:unraisableexception -p no:threadexception -p no:faulthandler -p no:legacypath -p no:doctest -p no:pastebin -p no:stepwise -p no:setuponly -p no:setupplan --junitxml=build/reports/validate.xml $(PYTEST_ARGS)
tests: ; $(PYTHON) -m pytest -n auto
sync-compose: ; $(RELEASE) sync-compose
bump: ; $(RELEASE) bump
build: ; $(RELEASE) build
build-all: ; $(RELEASE) build-all
test: ; $(RELEASE) test
test-all: ; $(RELEASE) test-all
push: ; $(RELEASE) push
build-registry: ; $(RELEASE) build-registry
package-registry: ; $(RELEASE) package-registry
publish-registry: ; $(RELEASE) publish-registry
publish-registry-direct: ; $(RELEASE) publish-registry-direct
download-registry: ; $(RELEASE) download-registry
remove-publish-lock: ; $(RELEASE) remove-publish-lock
restore-registry: ; $(RELEASE) restore-registry
unpublish: ; $(RELEASE) unpublish
list-published: ; @$(RELEASE) list-published
doctor: ; @$(RELEASE) doctor
ci-pipeline: ; $(RELEASE) ci-pipeline
bench: ; $(RELEASE) bench
moto-server: ; $(RELEASE) moto-server
