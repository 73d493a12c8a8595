"""Selectors and prompt assembly without a model: a word count stands in for the tokenizer."""

import numpy as np
import pytest

from tuiapp.chat.engine.formats import ChatTemplateFormat, TranscriptFormat
from tuiapp.errors import BadInput
from tuiapp.library.examples import ExampleStore
from tuiapp.library.fewshot import Assembler, continuation, join_output
from tuiapp.library.records import Example, ExampleSet, Template
from tuiapp.library.selectors import (
    SelectionContext,
    candidates,
    fts_query,
    get_selector,
    register,
    selector_names,
)
from tuiapp.store import open_db

TEMPLATE = Template(
    name="sentiment",
    body="Review: {{ review }}\nSentiment:",
    system="Label each review.",
    stop=["\n"],
)
REVIEWS = [
    ("The battery lasts all week and charging is fast.", "positive"),
    ("The soup was cold and the waiter ignored us.", "negative"),
    ("Lovely hotel room with a view of the sea.", "positive"),
    ("The app crashes every time I open the camera.", "negative"),
    ("Great book, I read it in one sitting.", "positive"),
    ("The shoes fell apart after a week.", "negative"),
]


def words(text: str) -> int:
    return len(text.split())


def rows(n: int = len(REVIEWS)) -> list[Example]:
    return [
        Example({"review": r}, lab, lab, "train", id=i + 1, set_name="s", position=i)
        for i, (r, lab) in enumerate(REVIEWS[:n])
    ]


def query(text: str = "The camera app keeps crashing.", id: int = 100) -> Example:
    return Example(
        {"review": text}, "negative", "negative", "heldout", id=id, set_name="s", position=99
    )


# -- registry and selectors ------------------------------------------------------------------
def test_registry_fails_loudly():
    assert {"fixed", "random", "bm25", "embedding", "mmr"} <= set(selector_names())
    with pytest.raises(BadInput, match="Unknown selector 'nope'.*bm25"):
        get_selector("nope")
    with pytest.raises(ValueError, match="already registered"):
        register("fixed")(type("Again", (), {}))


def test_candidates_are_train_rows_never_the_query_or_its_inputs():
    pool = rows() + [query(id=50)]
    twin = Example(dict(pool[0].inputs), "positive", split="train", id=60, position=60)
    q = Example(dict(pool[0].inputs), "positive", split="heldout", id=70)
    got = candidates(q, [*pool, twin])
    assert all(ex.split == "train" and ex.inputs != q.inputs for ex in got)
    assert [ex.id for ex in got] == [2, 3, 4, 5, 6]
    assert candidates(pool[2], pool)[1].id == 2 and pool[2] not in candidates(pool[2], pool)


def test_fixed_takes_the_first_k_by_position():
    shuffled = list(reversed(rows()))
    got = get_selector("fixed").select(query(), shuffled, 3, SelectionContext())
    assert [ex.id for ex in got] == [1, 2, 3]


def test_random_is_seeded_and_reproducible():
    sel, pool = get_selector("random"), rows()
    a = sel.select(query(), pool, 3, SelectionContext(seed=7))
    b = sel.select(query("another query"), list(reversed(pool)), 3, SelectionContext(seed=7))
    assert [x.id for x in a] == [x.id for x in b]  # same seed: same draw, for every query
    others = {
        tuple(x.id for x in sel.select(query(), pool, 3, SelectionContext(seed=s)))
        for s in range(10)
    }
    assert len(others) > 1


def test_fts_query_quotes_every_term():
    assert fts_query('NEAR(ab cd) "xy" OR y* -z: AND ab') == (
        '"near" OR "ab" OR "cd" OR "xy" OR "or" OR "and"'
    )
    assert fts_query("¿?") == ""


def make_set(db, examples: list[Example], name: str = "s") -> list[Example]:
    store = ExampleStore(db)
    store.create_set(
        ExampleSet(name=name, input_fields=["review"], labels=["positive", "negative"])
    )
    return store.add_many(name, examples)


def test_bm25_ranks_the_lexical_match_first_and_fills_up():
    db = open_db()
    stored = make_set(db, rows())
    make_set(db, [Example({"review": "camera crashes camera crashes"}, "negative")], "other")
    ctx = SelectionContext(db=db)
    got = get_selector("bm25").select(
        query("Why does the camera app crash when I open it?"), stored, 3, ctx
    )
    assert got[0].inputs["review"].startswith("The app crashes")
    assert len(got) == 3 and all(ex.set_name == "s" for ex in got)
    # Nothing matches: positional fill, still k rows; operators in the query are harmless.
    none = get_selector("bm25").select(query('zzz NEAR("qqq") *'), stored, 2, ctx)
    assert [ex.position for ex in none] == [0, 1]


class FakeEmbedder:
    """Vectors picked by the first word of each text."""

    VECTORS = {
        "q": [1.0, 0.0, 0.0],
        "a": [0.99, 0.14, 0.0],
        "b": [0.99, 0.141, 0.0],
        "c": [0.7, 0.0, 0.714],
    }

    def embed(self, texts):
        vecs = np.array([self.VECTORS[t.split()[0]] for t in texts], dtype=np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_embedding_picks_nearest_and_mmr_trades_for_diversity():
    pool = [
        Example({"t": f"{w} text"}, w, split="train", id=i, position=i)
        for i, w in enumerate(["c", "a", "b"])
    ]
    q = Example({"t": "q query"}, "", split="heldout", id=99)
    ctx = SelectionContext(embedder=FakeEmbedder(), mmr_lambda=0.5)
    nearest = get_selector("embedding").select(q, pool, 2, ctx)
    assert [ex.output for ex in nearest] == ["a", "b"]  # a and b are near-duplicates
    diverse = get_selector("mmr").select(q, pool, 2, ctx)
    assert [ex.output for ex in diverse] == ["a", "c"]
    ctx.mmr_lambda = 1.0  # relevance only: the same as `embedding`
    assert get_selector("mmr").select(q, pool, 2, ctx) == nearest
    with pytest.raises(BadInput, match="needs embeddings"):
        get_selector("mmr").select(q, pool, 2, SelectionContext())


# -- assembly ------------------------------------------------------------------------------
def test_output_joins_after_one_space_and_never_after_a_newline():
    assert join_output("Sentiment: ", " positive ") == "Sentiment: positive"
    assert join_output("Answer:\n", "yes") == "Answer:\nyes"
    assert continuation("Sentiment:", "positive") == " positive"


def test_raw_prompt_layout_and_stop():
    asm = Assembler(TEMPLATE, words)
    p = asm.build(query(), rows(2))
    assert p.text == (
        "Label each review.\n\n"
        "Review: The battery lasts all week and charging is fast.\nSentiment: positive\n\n"
        "Review: The soup was cold and the waiter ignored us.\nSentiment: negative\n\n"
        "Review: The camera app keeps crashing.\nSentiment:"
    )
    assert p.stop == ["\n", "\n\n"] and p.example_ids == [1, 2] and p.rendering == "raw"
    assert p.n_tokens == words(p.text) and p.n_dropped == 0 and not p.truncated
    zero = asm.build({"review": "ok"}, [])
    assert zero.text == "Label each review.\n\nReview: ok\nSentiment:" and zero.example_ids == []


def test_prefix_is_byte_identical_between_queries():
    asm = Assembler(TEMPLATE, words)
    fixed = get_selector("fixed")
    prompts = [
        asm.build(q, fixed.select(q, rows(), 4, SelectionContext()))
        for q in (query("Short one."), query("A much longer query " * 5, id=101))
    ]
    assert prompts[0].prefix == prompts[1].prefix and len(prompts[0].prefix) > 100
    assert all(p.text.startswith(p.prefix) for p in prompts)


def test_query_dependent_selection_is_printed_in_position_order():
    ranked = [rows()[4], rows()[1], rows()[3]]  # most relevant first
    by_position = Assembler(TEMPLATE, words).build(query(), ranked)
    assert by_position.example_ids == [2, 4, 5]
    by_relevance = Assembler(TEMPLATE, words, order="relevance").build(query(), ranked)
    assert by_relevance.example_ids == [4, 2, 5]  # the most relevant nearest the query


def test_budget_drops_least_relevant_examples_first():
    ranked = [rows()[5], rows()[0], rows()[2], rows()[1]]
    full = Assembler(TEMPLATE, words).build(query(), ranked)
    budget = full.n_tokens - 5  # one example too many
    p = Assembler(TEMPLATE, words, budget=budget).build(query(), ranked)
    assert p.n_dropped == 1 and p.n_tokens <= budget and not p.truncated
    assert sorted(p.example_ids) == [1, 3, 6]  # row 2 (ranked last) went first
    tight = Assembler(TEMPLATE, words, budget=12).build(query(), ranked)
    assert tight.n_dropped == 4 and tight.example_ids == [] and not tight.truncated


def test_query_is_truncated_only_when_no_example_is_left():
    long_query = query("word " * 200)
    p = Assembler(TEMPLATE, words, budget=40).build(long_query, rows(3))
    assert p.n_dropped == 3 and p.truncated and p.n_tokens <= 40
    assert p.text.endswith("…\nSentiment:")
    with pytest.raises(BadInput, match="does not fit the 3-token budget"):
        Assembler(TEMPLATE, words, budget=3).build(long_query, [])


def test_missing_variables_are_one_clear_error():
    with pytest.raises(BadInput, match="missing variables: review"):
        Assembler(TEMPLATE, words).build({"text": "hi"}, [])


CHAT = (
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def test_chat_rendering_uses_prior_turns_and_keeps_a_stable_prefix():
    asm = Assembler(TEMPLATE, words, format=ChatTemplateFormat(CHAT))
    a = asm.build(query("First."), rows(2))
    b = asm.build(query("Second, different."), rows(2))
    assert a.rendering == "chat" and [t.role for t in a.turns] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert a.turns[2].content == "positive" and a.turns[-1].content.endswith("Sentiment:")
    assert a.text.endswith("Review: First.\nSentiment:</user>\n<assistant>")
    assert a.prefix == b.prefix and a.prefix.endswith("</assistant>\n<user>")
    assert a.stop == ["\n"]  # the chat template's end-of-turn token stops it otherwise
    # A base model's transcript format is not a chat template: the raw rendering is used.
    assert (
        Assembler(TEMPLATE, words, format=TranscriptFormat()).build(query(), []).rendering == "raw"
    )
