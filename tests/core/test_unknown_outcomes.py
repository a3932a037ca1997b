"""Outcome-unknown orders followed from reports: entered, aged, forgotten when resolved."""

from __future__ import annotations

from gal_exec.core.unknown_outcomes import UnknownOutcomes


def test_ages_count_from_the_first_unknown_report_until_another_status():
    tracker = UnknownOutcomes()
    tracker.observe("a", "submitted", 100.0)
    tracker.observe("a", "submit_unknown", 101.0)
    tracker.observe("b", "submit_unknown", 150.0)
    tracker.observe("a", "submit_unknown", 140.0)  # still the same episode: age from 101
    assert tracker.ages(200.0) == [99.0, 50.0]
    assert tracker.summary(200.0) == {
        "count": 2,
        "oldest_s": 99.0,
        "at_least_s": {"0": 2, "10": 2, "60": 1, "300": 0},
    }
    tracker.observe("a", "open", 201.0)
    assert tracker.ages(210.0) == [60.0]
    tracker.observe("b", "rejected", 211.0)
    assert tracker.summary(220.0) == {
        "count": 0,
        "oldest_s": 0.0,
        "at_least_s": {"0": 0, "10": 0, "60": 0, "300": 0},
    }


def test_a_clock_behind_the_report_gives_age_zero_not_negative():
    tracker = UnknownOutcomes()
    tracker.observe("a", "submit_unknown", 100.0)
    assert tracker.ages(99.0) == [0.0]
