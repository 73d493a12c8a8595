"""Few-shot prefix reuse: time to first token of the real few-shot path, warm vs cold.

The built-in ``sentiment`` template and set, on the embedded model, through the app's own code
(``ExampleStore`` → selector → ``Assembler`` → ``Engine.complete``). Enough fixed examples are
shown to make a ~1,000-token prefix. "cold" clears the KV cache first; "warm" is the next query,
whose prompt differs only after the prefix. Goal: warm ≤ 5% of cold.

Also measured: label scoring by log-likelihood on the same prompts (the eval path: it reuses the
cache too), and query-dependent selection (bm25, 4 shots) in both print orders, to put a number
on the trade-off documented in ``tuiapp/library/fewshot.py``.

Usage: .venv/bin/python bench/bench_fewshot.py [--prefix-tokens 1000] [--queries 5] [--threads N]
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

QUERIES = [
    "The speakers crackle at any volume above half.",
    "Friendly staff, spotless rooms and a great breakfast.",
    "I returned it the same day; the zipper broke immediately.",
    "This cookbook has become the most used book in my kitchen.",
    "Setup took two minutes and it has worked flawlessly since.",
    "The delivery was three weeks late and nobody answered my emails.",
    "Honestly the best noodles I have had outside of Tokyo.",
    "The sequel is slow, predictable and far too long.",
]


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefix-tokens", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    os.environ.setdefault("TUIAPP_HOME", tempfile.mkdtemp(prefix="tuiapp-bench-fewshot-"))

    from tuiapp.chat.engine.engine import Engine
    from tuiapp.chat.engine.loader import physical_cores
    from tuiapp.chat.engine.sampling import SamplingParams
    from tuiapp.chat.history import History
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.chat.service import ChatService
    from tuiapp.evaluation.scoring import choose_label
    from tuiapp.library.examples import ExampleStore
    from tuiapp.library.fewshot import Assembler
    from tuiapp.library.records import Example
    from tuiapp.library.seed import open_library
    from tuiapp.library.selectors import SelectionContext, get_selector
    from tuiapp.library.templates import TemplateStore

    threads = args.threads or physical_cores()
    db = open_library()
    registry = ModelRegistry(db)
    path = registry.ensure_default()
    service = ChatService(History(db), registry, Engine(n_ctx=4096, n_threads=threads))
    service.load_model(str(path)).result()
    engine, model = service.engine, service.active
    template = TemplateStore(db).get("sentiment")
    pool = ExampleStore(db).examples("sentiment", split="train")
    params = SamplingParams.from_dict(template.params | {"temperature": 0.0, "max_tokens": 2})

    # Enough fixed examples for a prefix of about --prefix-tokens tokens.
    asm = Assembler(template, engine.count_tokens, model.format)
    shots = 1
    while shots < len(pool):
        p = asm.build({"review": "x"}, pool[:shots])
        if engine.count_tokens(p.prefix) >= args.prefix_tokens:
            break
        shots += 1
    queries = [
        Example({"review": q}, "", split="heldout", id=-i)
        for i, q in enumerate(QUERIES[: args.queries + 1])
    ]

    def ttft(text: str) -> float:
        stream = engine.complete(text, params, asm.stop)
        stream.text()
        return stream.result.first_token_ms

    def score_ms(text: str) -> float:
        start = time.perf_counter()
        choose_label(engine, text, ["positive", "negative"])
        return (time.perf_counter() - start) * 1000

    def reset() -> None:
        engine.call(lambda llm: llm.reset()).result()

    def case(name: str, selector: str, k: int, order: str, measure=ttft) -> tuple[str, ...]:
        assembler = Assembler(template, engine.count_tokens, model.format, order=order)
        sel, ctx = get_selector(selector), SelectionContext(db=db)
        prompts = [assembler.build(q, sel.select(q, pool, k, ctx)) for q in queries]
        tokens = [engine.tokenize(p.text).result() for p in prompts]
        colds, warms, reused = [], [], []
        for i in range(1, len(prompts)):
            reset()
            colds.append(measure(prompts[i].text))
            reset()
            measure(prompts[i - 1].text)  # the previous query leaves its prompt in the cache
            warms.append(measure(prompts[i].text))
            reused.append(shared_prefix(tokens[i - 1], tokens[i]))
        cold, warm = statistics.median(colds), statistics.median(warms)
        return (
            name,
            f"{statistics.mean(len(t) for t in tokens):.0f}",
            f"{statistics.mean(reused):.0f}",
            f"{cold:.0f}",
            f"{warm:.0f}",
            f"{100 * warm / cold:.1f}%",
        )

    rows = [
        case(f"fixed, {shots} shots: first token", "fixed", shots, "position"),
        case(f"fixed, {shots} shots: label scoring", "fixed", shots, "position", score_ms),
        case("bm25, 4 shots, position order", "bm25", 4, "position"),
        case("bm25, 4 shots, relevance order", "bm25", 4, "relevance"),
    ]
    header = ("few-shot path", "prompt tok", "reused tok", "cold ms", "warm ms", "warm/cold")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(
        f"model={Path(str(path)).name} threads={threads} queries={args.queries} "
        f"(medians; goal: fixed warm/cold <= 5%)"
    )
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    engine.close()


if __name__ == "__main__":
    main()
