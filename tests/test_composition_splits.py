"""Zero-shot splits: an evaluation set that shares compositions with the training set is refused,
naming the shared compositions, unless the scenario says ``allow_overlap``."""
from __future__ import annotations

import textwrap

import pytest

from harness.envs import registry
from harness.envs.base import CompositionSpec
from harness.suite import SuiteError, load_suite


def _suite(tmp_path, scenarios: str, algorithms: str = "[refil_qmix]"):
    path = tmp_path / "split.yaml"
    path.write_text(textwrap.dedent("""\
        name: split
        seeds: 1
        budget: {env_steps: 10000}
        evaluation: {interval: 5000}
        algorithms: %s
        scenarios:
        """) % algorithms + textwrap.indent(textwrap.dedent(scenarios), "  "))
    return path


def test_combat_compositions_are_enumerated_as_episodes_label_them():
    labels = registry.compositions("SZ", CompositionSpec(agents=(3, 3)))
    assert labels == ["1s2z_vs_1s2z", "2s1z_vs_2s1z", "3s_vs_3s", "3z_vs_3z"]
    assert registry.compositions("3m", None) == ["3m_vs_3m"]
    assert registry.compositions("mipi_matrix", None) == ["AB", "BA"]


def test_an_overlapping_eval_set_is_refused_with_the_shared_compositions(tmp_path):
    path = _suite(tmp_path, """\
        - name: SZ
          train: {agents: [3, 5]}
          eval:
            unseen: {agents: [6, 8]}
            sizes: {agents: [4, 6], units: {stalker: [0, 6], zealot: [0, 0]}}
        """)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    text = str(info.value)
    assert "scenarios[0].eval.sizes: eval set 'sizes' shares 2 composition(s) with the training set: " \
           "4s_vs_4s, 5s_vs_5s;" in text
    assert "unseen" not in text


def test_long_overlaps_are_cut_short_with_a_count(tmp_path):
    path = _suite(tmp_path, """\
        - name: SZ
          train: {agents: [3, 5]}
          eval:
            all: {agents: [3, 8]}
        """)
    with pytest.raises(SuiteError, match=r"shares 15 composition\(s\) with the training set: .* and 7 more;"):
        load_suite(path)


def test_matrix_game_teams_overlap_by_name(tmp_path):
    path = _suite(tmp_path, """\
        - name: mipi_matrix
          train: {teams: [[A, B], [B, A]]}
          eval:
            again: {teams: [[B, A], [B, B]]}
        """, algorithms="[iql]")
    with pytest.raises(SuiteError, match=r"eval set 'again' shares 1 composition\(s\) with the training set: BA;"):
        load_suite(path)


def test_allow_overlap_accepts_the_same_sets(tmp_path):
    path = _suite(tmp_path, """\
        - name: mipi_matrix
          train: {teams: [[A, B], [B, A]]}
          allow_overlap: true
          eval:
            again: {teams: [[B, A], [B, B]]}
        """, algorithms="[iql]")
    assert load_suite(path).scenario_entries[0].allow_overlap
