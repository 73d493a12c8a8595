"""``tuiapp history``: list, search, show and export conversations; rate and correct
replies, and teach a personal example set from them."""

from pathlib import Path

import click

from tuiapp.chat.history import History
from tuiapp.cli.output import json_option, parse_ids, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput
from tuiapp.store import open_db


@cli.group()
def history() -> None:
    """Every conversation, kept and searchable."""


@history.command("list")
@click.option("-n", "--limit", type=int, default=None, help="Show at most N conversations.")
@json_option
def list_(limit: int | None, as_json: bool) -> None:
    """List conversations, most recent first."""
    convs = History(open_db()).list_conversations(limit)
    if as_json:
        print_json([c.to_dict() for c in convs])
    else:
        print_table([c.to_dict() for c in convs], ["id", "title", "model", "updated"])


@history.command()
@click.argument("query")
@click.option("-n", "--limit", type=int, default=50)
@json_option
def search(query: str, limit: int, as_json: bool) -> None:
    """Full-text search across all messages."""
    hits = History(open_db()).search(query, limit)
    if as_json:
        print_json([h.to_dict() for h in hits])
    else:
        rows = [h.to_dict() | {"conversation": h.conversation_id} for h in hits]
        print_table(rows, ["conversation", "conversation_title", "role", "snippet"])


@history.command()
@click.argument("conversation_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "jsonl"]), default="md")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export(conversation_id: int, fmt: str, output: Path | None) -> None:
    """Export one conversation as Markdown or JSON lines."""
    text = History(open_db()).export(conversation_id, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@history.command()
@click.argument("conversation_id", type=int)
@json_option
def show(conversation_id: int, as_json: bool) -> None:
    """A conversation's messages with their ids (for rate and correct)."""
    from tuiapp.chat.feedback import FeedbackStore

    db = open_db()
    History(db).get_conversation(conversation_id)  # an unknown id is an error, not nothing
    messages = History(db).messages(conversation_id)
    feedback = FeedbackStore(db).in_conversations([conversation_id])
    rows = []
    for m in messages:
        fb = feedback.get(m.id) if m.id is not None else None
        rows.append(
            m.to_dict()
            | {
                "rating": fb.rating if fb else None,
                "correction": fb.correction if fb else None,
            }
        )
    if as_json:
        print_json(rows)
        return
    for row in rows:
        marks = " ".join(
            x
            for x in (
                f"[{row['rating']}]" if row["rating"] else "",
                "[corrected]" if row["correction"] else "",
            )
            if x
        )
        click.echo(f"#{row['id']} {row['role']}{' ' + marks if marks else ''}: {row['content']}")
        if row["correction"]:
            click.echo(f"    should have been: {row['correction']}")


@history.command()
@click.argument("message_id", type=int)
@click.argument("rating", type=click.Choice(["good", "bad", "none"]))
@json_option
def rate(message_id: int, rating: str, as_json: bool) -> None:
    """Rate an assistant reply good or bad (none clears it)."""
    from tuiapp.chat.feedback import FeedbackStore, as_rating

    fb = FeedbackStore(open_db()).rate(message_id, None if rating == "none" else as_rating(rating))
    if as_json:
        print_json(fb.to_dict())
    else:
        click.echo(f"Message {message_id} rated {fb.rating or '(none)'}.")


@history.command()
@click.argument("message_id", type=int)
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the correction.")
@json_option
def correct(message_id: int, text: str | None, clear: bool, as_json: bool) -> None:
    """Keep TEXT as the answer an assistant reply should have been (the reply stays)."""
    from tuiapp.chat.feedback import FeedbackStore

    if clear == (text is not None):
        raise BadInput("Give the corrected TEXT, or --clear to remove the correction.")
    fb = FeedbackStore(open_db()).correct(message_id, None if clear else text)
    if as_json:
        print_json(fb.to_dict())
    else:
        click.echo(f"Message {message_id}: correction {'removed' if clear else 'kept'}.")


@history.command()
@click.option("-c", "--conversations", default=None, help="Every reply of these: ids, e.g. 3,7.")
@click.option("--set", "set_name", default="personal", show_default=True, help="The set taught.")
@json_option
def teach(conversations: str | None, set_name: str, as_json: bool) -> None:
    """Build or update an example set from rated and corrected replies (all rated ones, or
    every reply of --conversations but those rated bad and not corrected)."""
    from tuiapp.library.seed import open_library
    from tuiapp.library.teach import teach as teach_rows

    ids = parse_ids(conversations) if conversations else None
    result = teach_rows(open_library(), set_name, ids, rated_only=ids is None)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(result.describe())
