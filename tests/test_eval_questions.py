"""The shipped question sets stay usable: every line parses and every evidence span is quoted verbatim
from a shipped article, so a miss in `citebot eval` is the engine's, never a typo in the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer import fold_case_and_space
from bot.evaluation.questions import EvalQuestion, Kind, load_questions

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("dev", "test", "holdout", "calibration")


def part(name: str) -> tuple[EvalQuestion, ...]:
    return load_questions(ROOT / "eval" / f"{name}.jsonl")


@pytest.fixture(scope="module")
def articles() -> list[str]:
    paths = sorted(path for path in (ROOT / "documents").iterdir() if path.is_file())
    return [path.read_text(encoding="utf-8") for path in paths]


@pytest.mark.parametrize("name", PARTS)
def test_every_line_is_a_question_with_its_kind_stated(name: str) -> None:
    lines = (ROOT / "eval" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(line.strip() for line in lines), "no blank lines"
    assert all(json.loads(line)["kind"] in {"answerable", "off_topic", "near_topic"} for line in lines)
    assert len(part(name)) == len(lines)


@pytest.mark.parametrize("name", PARTS)
def test_every_evidence_string_is_quoted_from_a_shipped_article(name: str, articles: list[str]) -> None:
    for question in part(name):
        for span in question.evidence:
            assert any(span in text for text in articles), f"{name}.jsonl line {question.line}: {span!r}"


@pytest.mark.parametrize("name", PARTS)
def test_each_part_has_answerable_off_topic_and_near_topic_questions(name: str) -> None:
    kinds = {question.kind for question in part(name)}
    assert kinds == {Kind.ANSWERABLE, Kind.OFF_TOPIC, Kind.NEAR_TOPIC}


@pytest.mark.parametrize("name", PARTS)
def test_no_question_gives_its_answer_away(name: str) -> None:
    for question in part(name):
        for span in question.evidence:
            assert fold_case_and_space(span) not in fold_case_and_space(question.question), (
                f"{name}.jsonl line {question.line}"
            )


def test_the_sets_are_large_enough_and_split_about_40_60() -> None:
    dev, test = part("dev"), part("test")
    everything = dev + test
    assert sum(question.answerable for question in everything) >= 40
    assert sum(not question.answerable for question in everything) >= 15
    assert 0.3 <= len(dev) / len(everything) <= 0.5
    assert not {q.question for q in dev} & {q.question for q in test}, "a question is in both parts"


def test_the_holdout_set_is_the_largest_and_shares_no_question_with_dev_or_test() -> None:
    holdout = part("holdout")
    assert sum(question.answerable for question in holdout) >= 150
    assert sum(question.kind is Kind.NEAR_TOPIC for question in holdout) >= 50
    asked = {fold_case_and_space(q.question) for q in part("dev") + part("test")}
    assert not {fold_case_and_space(q.question) for q in holdout} & asked


def test_the_calibration_set_is_large_enough_to_place_a_threshold_and_asks_nothing_already_asked() -> None:
    calibration = part("calibration")
    assert sum(question.answerable for question in calibration) >= 120, "5 % abstained is then 6 questions"
    assert sum(question.kind is Kind.NEAR_TOPIC for question in calibration) >= 50
    assert sum(question.kind is Kind.OFF_TOPIC for question in calibration) >= 10
    asked = {fold_case_and_space(q.question) for q in part("dev") + part("test") + part("holdout")}
    assert not {fold_case_and_space(q.question) for q in calibration} & asked


def test_the_wikinews_articles_are_all_asked_about_and_some_questions_need_two() -> None:
    wikinews = {
        path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "documents").glob("wikinews-*.md"))
    }
    assert len(wikinews) == 24
    everything = part("dev") + part("test")

    def sources(question: EvalQuestion) -> set[str]:
        return {name for name, text in wikinews.items() for span in question.evidence if span in text}

    answered = [question for question in everything if question.answerable and sources(question)]
    assert len(answered) >= 40
    assert {name for question in answered for name in sources(question)} == set(wikinews), "every article"
    assert sum(len(sources(question)) >= 2 for question in answered) >= 3, "questions two articles answer"
    assert sum(question.kind is Kind.NEAR_TOPIC for question in everything) >= 20
