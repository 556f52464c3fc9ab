"""scripts/confidence_labels.py: the labels its offline check compares with the greedy answer (docs/experiments.md)."""

from __future__ import annotations


def test_weighted_label_sums_weight_over_equivalent_answers_and_ties_go_to_the_first_class(script):
    s = script("confidence_labels")
    # 1/2 and 0.5 are one class (weight 0.6); 3 alone weighs 0.5; an unparseable answer never wins
    assert s.weighted_label(["1/2", "3", "0.5", None], [0.3, 0.5, 0.3, 9.0]) == "1/2"
    assert s.weighted_label(["3", "4"], [1.0, 1.0]) == "3"
    assert s.weighted_label([None, None], [1.0, 1.0]) is None


def test_each_label_reads_the_confidences_its_own_way(script):
    s = script("confidence_labels")
    # one very confident "1", two fairly confident "2"s, a "3", and four unconfident "4"s (mean token log-probs)
    answers = ["4", "1", "2", "4", "2", "3", "4", "4"]
    confidence = [-6.0, -0.01, -1.0, -6.0, -1.0, -1.1, -6.0, -6.0]
    got = s.labels(answers, confidence)
    assert got["plurality"] == "4"  # four votes
    assert got["confidence-weighted"] == "1"  # exp(-0.01) = 0.99 > 2 * exp(-1) = 0.74 > 4 * exp(-6) = 0.01
    assert got["confident half"] == "2"  # the four most confident are 1, 2, 2, 3
    assert got["most confident"] == "1"
    got = s.labels(["7", "9", "5", "5"], [-0.3, -0.1, -0.2, -0.25])
    assert got["most confident"] == "9" and got["confidence-weighted"] == "5" and got["plurality"] == "5"


def test_shaped_rewards_add_the_confidence_z_score_to_the_greedy_labels_reward(script):
    s = script("confidence_labels")
    assert s.shaped_rewards([True, False], [-1.0, -5.0], 0.5) == [1.5, -0.5]  # z-scores +1 and -1
    assert s.shaped_rewards([True, False, True], [-2.0, -2.0, -2.0], 1.0) == [
        1.0,
        0.0,
        1.0,
    ]  # no spread: no shaping
