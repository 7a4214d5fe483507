"""``python -m transforms.fasttext_train ARGS_JSON``: one fastText supervised training, in an
interpreter that has imported nothing but fastText.

fasttext-numpy2-wheel 0.9.2's training depends on the state of the process it runs in: the same
file and seed gave different models, or "Encountered NaN", depending on which modules the process
had imported before (even the import order of two pure-Python modules flipped it). A spawned
``multiprocessing`` child is not clean enough: it imports the caller's modules to find its target
and its arguments. This module imports only the standard library and fastText, so the result
depends on the training file and the arguments alone. ``transforms.knowledge_model`` runs it.

ARGS_JSON: ``{"input": path, "output": path, **fasttext.train_supervised keyword arguments}``.
Exit status 0 and the model at ``output``, or 1 with fastText's error on stderr.
"""
import json
import sys


def main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    output = args.pop("output")
    import fasttext  # after json/sys only: see the module docstring

    try:
        fasttext.train_supervised(**args).save_model(output)
    except RuntimeError as exc:  # fastText raises RuntimeError("Encountered NaN.") when SGD diverges
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
