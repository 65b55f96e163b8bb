"""Delivery analytics of an answer, in memory (actors.session.delivery)."""

from __future__ import annotations

from actors.session.delivery import (
    Timing,
    analyse,
    count_units,
    find_fillers,
    star_checklist,
    summarise,
)

STAR_EN = (
    "At my last job our checkout service timed out under load, and I was responsible for "
    "fixing it. I profiled the queries and added a cache in front of the database, and as "
    "a result the p99 latency dropped from two seconds to 300 milliseconds."
)


def test_english_rate_fillers_pauses_and_first_word() -> None:
    answer = "Um, I built the service, you know, in Python, uh, and like, it scaled."
    timing = Timing(
        first_word_s=1.25, duration_s=6.0, speech_s=4.0, pauses=[(2.0, 2.5), (5.0, 0.8)]
    )
    d = analyse(answer, "en", timing=timing)
    assert d["spoken"] is True and d["unit"] == "wpm"
    assert d["count"] == 14
    assert d["rate"] == 140.0  # 14 words in 6 s
    assert d["fillers"] == {"um": 1, "uh": 1, "you know": 1, "like": 1}
    assert d["filler_total"] == 4
    assert d["filler_at"] == sorted(d["filler_at"]) and d["filler_at"][0] == 0.0
    assert d["pauses"] == [{"at": 2.0, "length": 2.5}]  # the 0.8 s gap is not long
    assert d["first_word_s"] == 1.25


def test_like_as_a_verb_is_not_a_filler() -> None:
    assert find_fillers("I like Python and I would like to use it.", "en") == []
    assert [w for w, _ in find_fillers("It was, like, slow.", "en")] == ["like"]


def test_korean_counts_syllables_and_korean_fillers() -> None:
    answer = "음, 저는 그 프로젝트에서 어 Kafka를 도입했습니다. 그 그 결과 지연이 줄었습니다."
    assert count_units("저는 Kafka를", "ko") == 4  # 저, 는, 를 + Kafka
    d = analyse(answer, "ko", timing=Timing(duration_s=10.0, speech_s=8.0))
    assert d["unit"] == "spm"
    assert d["fillers"].get("음") == 1 and d["fillers"].get("어") == 1
    # "그 프로젝트" is a determiner; the repeated "그 그" is a disfluency.
    assert d["fillers"].get("그") == 2
    assert d["rate"] == round(d["count"] / (10.0 / 60.0), 1)


def test_typed_answer_gets_text_measures_only() -> None:
    d = analyse(STAR_EN, "en", key_terms=["cache", "Kafka"])
    assert d["spoken"] is False
    assert "rate" not in d and "pauses" not in d and "first_word_s" not in d
    assert d["terms_used"] == ["cache"] and d["terms_missed"] == ["Kafka"]
    assert d["length"]["band"] == "short"  # 48 words, under the 60 of a main question


def test_length_band_depends_on_question_kind() -> None:
    words = " ".join(["word"] * 40)
    assert analyse(words, "en", kind="main")["length"]["band"] == "short"
    assert analyse(words, "en", kind="followup")["length"]["band"] == "ok"
    assert analyse(" ".join(["word"] * 300), "en")["length"]["band"] == "long"


def test_star_checklist() -> None:
    assert star_checklist(STAR_EN, "en") == {
        "situation": True,
        "task": True,
        "action": True,
        "result": True,
    }
    assert star_checklist("It went fine.", "en") == {
        "situation": False,
        "task": False,
        "action": False,
        "result": False,
    }
    ko = "당시 결제 서비스 장애를 제가 맡아 캐시를 도입했고 결과적으로 지연이 절반으로 줄었습니다."
    assert star_checklist(ko, "ko") == {
        "situation": True,
        "task": True,
        "action": True,
        "result": True,
    }


def test_summary_over_answers() -> None:
    a = analyse(
        "Um, I built it in Kafka.", "en", timing=Timing(duration_s=3.0), key_terms=["Kafka", "Go"]
    )
    b = analyse("Typed: I wrote Go code.", "en", key_terms=["Kafka", "Go"])
    s = summarise([a, b])
    assert s["answers"] == 2 and s["spoken"] == 1
    assert s["rate"] == a["rate"]
    assert s["terms_used"] == ["Kafka", "Go"] and s["terms_missed"] == []
    assert s["filler_total"] == 1
    assert summarise([])["rate"] is None


def test_spoken_answer_in_the_core_carries_its_vad_timings() -> None:
    from tests.session.world import Candidate, Models, World

    # A pause longer than the silence that ends a turn ends the answer; one of 2.2 s is
    # inside it when the words so far do not end a sentence (turn_fallback_ms 2.4 s).
    posting = "Requirements:\n- Strong Kafka and Terraform experience\n"
    w = World(
        questions=1,
        posting=posting,
        models=Models(
            stt_text=lambda job: "um and then we used Kafka",
            turn=lambda world, _check: 0.0 if world.will_speak() else 1.0,
        ),
        candidate=Candidate(reaction=0.7, speech=3.0, inner_pause=2.2),
    )
    w.begin()
    w.finish()
    report = w.reports[0]
    first = report["answers"][0]["delivery"]
    assert first["spoken"] is True and first["unit"] == "wpm"
    assert [p["length"] for p in first["pauses"]] and 2.0 < first["pauses"][0]["length"] < 2.6
    assert 0.5 <= first["first_word_s"] <= 1.2
    assert 4.5 <= first["duration_s"] <= 5.5  # 1.5 s + 2.2 s + 1.5 s of speech and pause
    assert abs(first["rate"] - first["count"] / (first["duration_s"] / 60.0)) < 0.5
    assert first["fillers"] == {"um": 2}
    assert first["terms_used"] == ["Kafka"] and first["terms_missed"] == ["Terraform"]
    assert report["delivery"]["spoken"] == len(report["answers"])


def test_typed_answer_in_the_core_is_marked_text_only() -> None:
    from tests.session.world import Candidate, World

    w = World(questions=1, candidate=Candidate(mode="typed"))
    w.begin()
    w.finish()
    d = w.reports[0]["answers"][0]["delivery"]
    assert d["spoken"] is False and "rate" not in d and d["count"] > 0


def test_outlines_come_after_the_report_and_update_it() -> None:
    from bus import events as ev
    from tests.session.world import Candidate, World

    w = World(questions=2, candidate=Candidate(mode="typed"))
    w.begin()
    w.finish()
    first = w.of(ev.Report)[0].report
    assert all("outline" not in a for a in first["answers"])  # complete without them
    outline_jobs = w.requested("outline")
    mains = [a for a in first["answers"] if a["kind"] == "main"]
    assert len(outline_jobs) == len(mains) == 2
    assert all(r.kind == "assess" for r in outline_jobs)  # the low-priority queue
    w.run(10.0)
    last = w.of(ev.Report)[-1].report
    assert w.reports[-1] == last  # sent and stored
    outlined = {a["turn"]: a["outline"] for a in last["answers"] if "outline" in a}
    assert sorted(outlined) == sorted(a["turn"] for a in mains)
    assert all(text.startswith("- ") for text in outlined.values())
    assert last["overall"] == first["overall"]
