from __future__ import annotations

import pytest

from cases.models import Case
from cases.scoring import answer_matches, answer_targets, differential_score, terms


def _case(diagnosis: str, synonyms: str = "") -> Case:
    return Case(diagnosis=diagnosis, diagnosis_synonyms=synonyms)


@pytest.mark.parametrize(
    ("diagnosis", "answer"),
    [
        ("Arachnoid Cyst", "arachnoid cysts"),
        ("Arachnoid Cyst", "Cyst, arachnoid."),
        ("Diffuse cerebral edema - mimic of SAH", "cerebral oedema"),
        ("Metastatic Adenocarcinoma of the Lung", "lung adenocarcinoma metastases"),
        ("Glioblastoma Multiforme", "GLIOBLASTOMA MULTIFORME!"),
        ("Subarachnoid haemorrhage", "subarachnoid hemorrhage"),
    ],
)
def test_answers_match_despite_case_punctuation_order_plural_and_spelling(diagnosis, answer):
    assert answer_matches(answer, answer_targets(_case(diagnosis)))


@pytest.mark.parametrize(
    ("diagnosis", "answer"),
    [
        ("Arachnoid Cyst", "cyst"),
        ("Arachnoid Cyst", "epidermoid cyst"),
        ("Metastatic Adenocarcinoma of the Lung", "lung cancer"),
        ("Diffuse cerebral edema - mimic of SAH", "subarachnoid hemorrhage"),
        ("Arachnoid Cyst", ""),
    ],
)
def test_wrong_or_vague_answers_do_not_match(diagnosis, answer):
    assert not answer_matches(answer, answer_targets(_case(diagnosis)))


def test_synonyms_listed_by_the_author_count():
    case = _case("Recurrent retroperitoneal leiomyosarcoma", "Metastatic leiomyosarcoma")
    assert differential_score(case, ["leiomyosarcoma metastases"]) == (1.0, 1)


def test_rank_sets_the_score():
    case = _case("Arachnoid Cyst")
    assert differential_score(case, ["arachnoid cyst", "x"]) == (1.0, 1)
    assert differential_score(case, ["epidermoid", "arachnoid cyst"]) == (0.5, 2)
    score, rank = differential_score(case, ["a", "b", "arachnoid cyst"])
    assert rank == 3 and score == pytest.approx(1 / 3)
    assert differential_score(case, ["a", "b", "c", "arachnoid cyst"]) == (0.0, None)
    assert differential_score(case, []) == (0.0, None)


def test_terms_drop_stopwords_accents_and_plurals():
    assert terms("The Cysts of Müller") == {"cyst", "muller"}
