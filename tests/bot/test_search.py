"""/mirage search: what a student sees in the thread, with the engine stand-in on a real socket."""

from __future__ import annotations

import discord
from discord import app_commands

from engine.contract import DISCLAIMER

from .conftest import ENGINE_TOKEN, invoke
from .engine_standin import Plan, png_bytes
from .fakes import ALL_NEEDED, FakeAttachment, FakeChannel, FakeInteraction


async def test_search_answers_in_a_thread_with_explanation_images_and_sources(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="pneumothorax", k=3)

    assert interaction.response.deferred and interaction.response.thinking
    assert "pneumothorax" in interaction.original.content
    thread = interaction.thread
    assert thread.name == "Search: pneumothorax"
    status, body, footer = thread.messages
    assert status.content == "✅ Done." and status.view is None
    # the explanation, the best image and every first-pass hit with its source
    assert "air in the pleural space" in body.embeds[0].description
    for roco_id, pmc in (("ROCO_00099", "PMC1099"), ("ROCO_00001", "PMC1001"), ("ROCO_00003", "PMC1003")):
        assert roco_id in body.content and pmc in body.content
    assert body.content.count("CC BY 4.0") == 4
    # images: best + 3 hits, short names, decodable, captions as alt text
    assert [f.filename for f in footer.files] == [
        "best_roco_00099.png",
        "1_roco_00001.png",
        "2_roco_00002.png",
        "3_roco_00003.png",
    ]
    assert all(f.image.size == (96, 96) for f in footer.files)
    assert footer.files[1].description.startswith("Chest x-ray number 1")
    assert DISCLAIMER in footer.content
    assert "mirage:more:3:-" in footer.custom_ids and "mirage:img:ROCO_00001" in footer.custom_ids
    # what reached the engine: the query, k, the bearer token, streaming asked for
    (call,) = engine.calls("/v1/search")
    assert call["body"] == {"query": "pneumothorax", "k": 3, "enrich": True}
    assert call["headers"]["Authorization"] == f"Bearer {ENGINE_TOKEN}"
    assert call["headers"]["Accept"] == "text/event-stream"
    assert all(
        c["headers"]["Authorization"] == f"Bearer {ENGINE_TOKEN}" for c in engine.calls("/v1/atlas/image")
    )
    assert services.queue.open_jobs() == []


async def test_search_sends_the_chosen_modality(engine, services):
    interaction = FakeInteraction(services)
    modality = app_commands.Choice(name="CT", value="ct")
    await invoke(services, "search", interaction, query="appendicitis", k=2, modality=modality)

    assert engine.calls("/v1/search")[0]["body"]["modality"] == "ct"
    assert "modality: ct" in interaction.thread.messages[-1].content


async def test_search_without_query_or_image_asks_for_one(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction)

    assert "`query`" in interaction.ephemeral_text and "`image`" in interaction.ephemeral_text
    assert engine.requests == []


async def test_search_by_image_sends_the_upload_to_the_engine(engine, services):
    upload = png_bytes((64, 64), "white")
    interaction = FakeInteraction(services)
    await invoke(
        services,
        "search",
        interaction,
        query="ignored",
        image=FakeAttachment(upload, filename="my_scan.png"),
        k=2,
    )

    (call,) = engine.calls("/v1/search/image")
    # the upload goes on under a neutral name: a file name often names a patient (test_image_search_privacy)
    assert call["body"] == {"k": 2, "image_bytes": len(upload), "filename": "query.png"}
    assert engine.calls("/v1/search") == []
    assert "Searched by the image only" in interaction.original.content
    body, footer = interaction.thread.messages[1:]
    assert "Images like your image" in body.content and "ROCO_00002" in body.content
    assert len(footer.files) == 2 and DISCLAIMER in footer.content


async def test_a_non_image_attachment_is_refused_before_the_engine(engine, services):
    interaction = FakeInteraction(services)
    await invoke(
        services,
        "search",
        interaction,
        image=FakeAttachment(b"%PDF", filename="a.pdf", content_type="application/pdf"),
    )

    assert "not an image" in interaction.ephemeral_text
    assert engine.requests == []


async def test_a_long_explanation_is_trimmed_in_the_embed(engine, services):
    long_text = "word " * 1500  # 7,500 characters
    engine.plan("/v1/search", Plan(body={"query": "q", "enriched": long_text, "best": None, "hits": []}))
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="q")

    embed = interaction.thread.messages[1].embeds[0]
    assert len(embed.description) <= 4096 and embed.description.endswith("…")
    assert "no images for this query" in interaction.thread.text


async def test_without_embed_permission_a_long_explanation_is_split_at_2000(engine, services):
    long_text = "The pleura. " * 600  # 7,200 characters
    engine.plan("/v1/search", Plan(body={"query": "q", "enriched": long_text, "best": None, "hits": []}))
    permissions = discord.Permissions(ALL_NEEDED.value)
    permissions.embed_links = False
    interaction = FakeInteraction(services, permissions=permissions)
    await invoke(services, "search", interaction, query="q")

    messages = interaction.thread.messages[1:]
    assert all(len(m.content) <= 2000 and not m.embeds for m in messages)
    assert len(messages) >= 5  # 7,200 characters of explanation need four messages, plus the footer
    assert " ".join(m.content for m in messages).count("The pleura.") == 600


async def test_images_are_downscaled_to_fit_a_small_upload_limit(engine, services):
    engine.image_size, engine.image_noise = (400, 400), True  # ~480 KB PNGs that barely compress
    limit = 150_000
    interaction = FakeInteraction(services, filesize_limit=limit)
    await invoke(services, "search", interaction, query="pneumothorax", k=4)

    files = interaction.thread.messages[-1].files
    assert len(files) == 5
    assert sum(len(f.data) for f in files) <= limit
    for f in files:
        assert f.filename.endswith(".jpg") and len(f.filename) <= 40
        assert max(f.image.size) < 400


async def test_ten_hits_and_the_best_image_stay_within_ten_files(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="pneumothorax", k=10)

    footer = interaction.thread.messages[-1]
    assert len(footer.files) == 10
    assert "(image unavailable)" in interaction.thread.text  # the 10th hit is listed, not attached
    assert "mirage:more:10:-" not in footer.custom_ids  # nothing more to fetch


async def test_without_thread_permission_the_answer_goes_to_the_channel_and_says_so(engine, services):
    permissions = discord.Permissions(ALL_NEEDED.value)
    permissions.create_public_threads = False
    interaction = FakeInteraction(services, permissions=permissions)
    await invoke(services, "search", interaction, query="pneumothorax", k=2)

    assert interaction.channel.threads == []
    assert "couldn't open a thread" in interaction.channel.text
    assert "ROCO_00002" in interaction.channel.text and DISCLAIMER in interaction.channel.text


async def test_when_discord_refuses_the_thread_the_answer_goes_to_the_channel(engine, services):
    interaction = FakeInteraction(services, channel=FakeChannel(refuse_threads=True))
    await invoke(services, "search", interaction, query="pneumothorax", k=2)

    assert "couldn't open a thread" in interaction.channel.text
    assert len(interaction.channel.messages[-1].files) == 3


async def test_without_attach_permission_sources_are_listed_and_the_user_is_told(engine, services):
    permissions = discord.Permissions(ALL_NEEDED.value)
    permissions.attach_files = False
    interaction = FakeInteraction(services, permissions=permissions)
    await invoke(services, "search", interaction, query="pneumothorax", k=2)

    thread = interaction.thread
    assert all(not m.files for m in thread.messages)
    assert "Attach Files" in thread.text and "PMC1002" in thread.text
    assert engine.calls("/v1/atlas/image") == []  # no point fetching images we cannot post


async def test_when_discord_refuses_files_the_answer_is_resent_without_them(engine, services):
    interaction = FakeInteraction(services, channel=FakeChannel(refuse_files=True))
    await invoke(services, "search", interaction, query="pneumothorax", k=2)

    footer = interaction.thread.messages[-1]
    assert footer.files == [] and "Attach Files" in footer.content and DISCLAIMER in footer.content


async def test_when_the_channel_refuses_messages_the_followup_carries_the_answer(engine, services):
    permissions = discord.Permissions(ALL_NEEDED.value)
    permissions.create_public_threads = False
    permissions.send_messages = False
    interaction = FakeInteraction(services, permissions=permissions)
    await invoke(services, "search", interaction, query="pneumothorax", k=1)

    texts = "\n".join(m.content for m in interaction.followup.messages)
    assert "ROCO_00001" in texts and DISCLAIMER in texts
    assert len(interaction.followup.messages[-1].files) == 2


# --- issue 18: a cited, streamed explanation ----------------------------------------------
def _cited_search(grounded: bool) -> dict:
    body = {
        "query": "pneumothorax", "enriched": "Air in the pleural space [1], seen on both [1][3].",
        "best": None, "hits": [], "context_ids": ["ROCO_00001", "ROCO_00002", "ROCO_00003"], "notes": [],
        "citations": [{"n": 1, "id": "ROCO_00001"}, {"n": 3, "id": "ROCO_00003"}] if grounded else [],
        "grounded": grounded,
    }
    if not grounded:
        body["enriched"] = "Air in the pleural space."
    return body


async def test_the_explanation_is_labelled_as_written_by_a_language_model_from_the_captions(engine, services):
    engine.plan("/v1/search", Plan(body=_cited_search(grounded=True)))
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="pneumothorax", k=3)
    _, body, _ = interaction.thread.messages
    description = body.embeds[0].description
    assert description.startswith(
        "-# Written by a language model from the captions [1]–[3]; cited: [1] `ROCO_00001`, [3] `ROCO_00003`.\n"
    )
    assert description.endswith("Air in the pleural space [1], seen on both [1][3].")


async def test_an_explanation_citing_nothing_says_to_check_it_against_the_hits(engine, services):
    engine.plan("/v1/search", Plan(body=_cited_search(grounded=False)))
    permissions = discord.Permissions(ALL_NEEDED.value)
    permissions.embed_links = False
    interaction = FakeInteraction(services, permissions=permissions)
    await invoke(services, "search", interaction, query="pneumothorax", k=3)
    body = interaction.thread.messages[1].content.replace("\\", "")
    assert "-# Written by a language model from the captions [1]–[3]. It cites none of them validly" in body


async def test_the_explanation_streams_then_the_checked_answer_takes_its_place(engine, services):
    engine.plan("/v1/search", Plan(tokens=["Air ", "in the ", "pleural ", "space."], token_delay=0.06))
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="pneumothorax", k=3)
    thread = interaction.thread
    status, body, footer = thread.messages  # the streamed words are gone, the full answer is there
    (streamed,) = thread.deleted
    seen = [c.replace("\\", "") for c in streamed.content_history]
    assert seen[0].startswith("**Explanation**\nAir") and seen[-1].startswith("**Explanation**\nAir in the pleural space.")
    assert "air in the pleural space" in body.embeds[0].description and status.content == "✅ Done."
