import numpy as np
import pandas as pd
import pytest

import valuelab as vl
from valuelab.schema import prepare_comparisons, validate_comparisons


def base():
    return pd.DataFrame({"option_a": ["x", "y", "x"], "option_b": ["y", "z", "z"], "n_a": [3, 1, 2], "n_b": [1, 2, 2]})


BAD_INPUTS = [
    ("missing option_b", lambda d: d.drop(columns="option_b"), r"missing column\(s\) \['option_b'\]"),
    ("no outcome columns", lambda d: d.drop(columns=["n_a", "n_b"]), r"no outcome columns"),
    ("n_b without n_a", lambda d: d.drop(columns="n_a"), r"'n_a' and 'n_b' go together"),
    ("empty", lambda d: d.iloc[:0], r"the table is empty"),
    ("NaN count", lambda d: d.assign(n_a=[3, np.nan, 2]), r"row 1, column 'n_a': expected a number, not missing"),
    ("infinite count", lambda d: d.assign(n_b=[1, 2, np.inf]), r"row 2, column 'n_b': expected a finite number"),
    ("text count", lambda d: d.assign(n_a=["3", "many", "2"]), r"row 1, column 'n_a': expected a number"),
    ("negative count", lambda d: d.assign(n_b=[1, -2, 2]), r"row 1, column 'n_b': expected a non-negative count"),
    ("zero total", lambda d: d.assign(n_a=[3, 0, 2], n_b=[1, 0, 2]), r"row 1, column 'n_b'.*zero total"),
    ("self comparison", lambda d: d.assign(option_b=["y", "y", "z"]), r"row 1, column 'option_b'.*compared with itself"),
    ("missing id", lambda d: d.assign(option_a=["x", None, "x"]), r"row 1, column 'option_a': expected an option id"),
    ("p above 1", lambda d: d.drop(columns=["n_a", "n_b"]).assign(p_a=[0.2, 1.5, 0.1]),
     r"row 1, column 'p_a': expected a probability in \[0, 1\]"),
    ("p below 0", lambda d: d.drop(columns=["n_a", "n_b"]).assign(p_a=[-0.1, 0.5, 0.1]), r"row 0, column 'p_a'"),
    ("zero weight", lambda d: d.drop(columns=["n_a", "n_b"]).assign(p_a=0.5, weight=[1, 0, 1]),
     r"row 1, column 'weight': expected a positive weight"),
    ("bad shown_first", lambda d: d.assign(shown_first=["x", "q", None]), r"row 1, column 'shown_first'"),
    ("bad order", lambda d: d.assign(order=["ab", "first", None]), r"row 1, column 'order': expected 'ab', 'ba'"),
    ("both order columns", lambda d: d.assign(order="ab", shown_first="x"), r"either 'shown_first' or 'order'"),
]


@pytest.mark.parametrize("name,mutate,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_row_and_field(name, mutate, message):
    with pytest.raises(ValueError, match=message):
        vl.validate_comparisons(mutate(base()))
    with pytest.raises(ValueError, match=message):
        vl.fit_thurstonian(mutate(base()))


def test_unknown_option_when_options_given():
    options = pd.DataFrame({"option_id": ["x", "y"]})
    with pytest.raises(ValueError, match=r"row 1, column 'option_b'.*unknown option"):
        vl.validate_comparisons(base(), options=options)


def test_index_labels_are_named():
    df = base().set_index(pd.Index(["r1", "r2", "r3"]))
    df.loc["r3", "n_a"] = -1
    with pytest.raises(ValueError, match=r"row 2 \(index 'r3'\)"):
        vl.validate_comparisons(df)


def test_duplicate_option_ids_rejected():
    with pytest.raises(ValueError, match="appears more than once"):
        vl.validate_options(pd.DataFrame({"option_id": ["x", "x"]}))


def test_orientations_are_combined():
    df = pd.DataFrame({"option_a": ["x", "y", "x"], "option_b": ["y", "x", "y"],
                       "n_a": [3, 2, 1], "n_b": [1, 2, 0]})
    pooled = vl.combine_orientations(df, keep_order=False)
    assert len(pooled) == 1
    row = pooled.iloc[0]
    assert (row.option_a, row.option_b) == ("x", "y")
    # x wins: 3 + 2 (from the flipped row) + 1; y wins: 1 + 2 + 0
    assert (row.n_a, row.n_b) == (6.0, 3.0)


def test_order_is_flipped_with_orientation():
    df = pd.DataFrame({"option_a": ["x", "y"], "option_b": ["y", "x"], "n_a": [3, 2], "n_b": [1, 2],
                       "shown_first": ["x", "y"]})
    pooled = vl.combine_orientations(df).sort_values("first")
    # the second row shows y first, i.e. B first after reorienting to (x, y)
    assert pooled["first"].tolist() == [-1, 1]
    assert pooled["n_a"].tolist() == [2.0, 3.0]


def test_probabilities_become_weighted_counts():
    df = pd.DataFrame({"option_a": [1, 2], "option_b": [2, 3], "p_a": [0.25, 1.0], "weight": [4, 2]})
    out = vl.validate_comparisons(df)
    assert out["n_a"].tolist() == [1.0, 2.0]
    assert out["n_b"].tolist() == [3.0, 0.0]


def test_hashable_labels_of_any_kind():
    df = pd.DataFrame({"option_a": [("a", 1), 7, "s"], "option_b": [7, "s", ("a", 1)], "n_a": [1, 2, 3], "n_b": [1, 1, 1]})
    data = prepare_comparisons(df)
    assert set(data.options) == {("a", 1), 7, "s"}
    assert data.n_obs == 9.0


def test_counts_with_probability_columns_are_rejected():
    df = pd.DataFrame({"option_a": ["a"], "option_b": ["b"], "n_a": [1], "n_b": [2], "weight": [3]})
    with pytest.raises(ValueError, match=r"both counts .*\['weight'\]"):
        vl.validate_comparisons(df)


def test_a_user_column_named_first_is_rejected():
    df = pd.DataFrame({"option_a": ["a"], "option_b": ["b"], "n_a": [1], "n_b": [2], "first": ["yes"]})
    with pytest.raises(ValueError, match="'first' is reserved"):
        vl.validate_comparisons(df)
    with pytest.raises(ValueError, match="'first' is reserved"):
        vl.combine_orientations(df)


def test_evaluate_names_the_users_row_for_an_unfitted_option():
    df = pd.DataFrame({"option_a": ["a", "b", "a"], "option_b": ["b", "c", "c"], "n_a": [3, 2, 4], "n_b": [1, 2, 1]})
    fit = vl.fit_thurstonian(df)
    test = pd.DataFrame({"option_a": ["a", "a", "zz"], "option_b": ["b", "b", "a"], "n_a": [1, 1, 1],
                         "n_b": [0, 0, 0]}, index=[10, 11, 12])
    with pytest.raises(ValueError, match=r"row 2 \(index 12\), column 'option_a': option 'zz'"):
        vl.evaluate_fit(test, fit=fit)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl", ".parquet"])
def test_tables_round_trip_and_text_ids_stay_text(tmp_path, suffix):
    df = pd.DataFrame({"option_a": ["001", "b"], "option_b": ["c", "d"], "n_a": [1.5, 2.0], "n_b": [0.5, 1.0]})
    path = vl.write_table(df, tmp_path / f"t{suffix}")
    back = vl.read_table(path)
    if suffix == ".csv":  # CSV has no types: ids come back as parsed by pandas
        back = pd.read_csv(path, dtype={"option_a": str})
    pd.testing.assert_frame_equal(back, df)
    assert [p.name for p in tmp_path.iterdir()] == [f"t{suffix}"]


def test_parquet_with_mixed_id_types_names_the_fix(tmp_path):
    df = pd.DataFrame({"option_a": [1, "x"], "option_b": ["c", "d"], "n_a": [1, 2], "n_b": [0, 1]})
    with pytest.raises(ValueError, match="astype\\(str\\)"):
        vl.write_table(df, tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_booleans_and_lists_are_rejected_with_the_row():
    df = pd.DataFrame({"option_a": ["a", "c"], "option_b": ["b", "d"], "n_a": [1, True], "n_b": [0, 1]})
    with pytest.raises(ValueError, match="row 1, column 'n_a': expected a number \\(True/False"):
        vl.validate_comparisons(df)
    df = pd.DataFrame({"option_a": ["a", ["x"]], "option_b": ["b", "d"], "n_a": [1, 1], "n_b": [0, 1]})
    with pytest.raises(ValueError, match="row 1, column 'option_a': expected a hashable option id"):
        vl.validate_comparisons(df)


@pytest.mark.parametrize("size_factor", [1, None])
def test_appearance_codes_match_pandas_factorize(size_factor):
    """The table-indexed coding (small key ranges) and the hashing fallback both give
    pandas' codes in order of first appearance and each code's first row."""
    from valuelab.schema import appearance_codes

    rng = np.random.default_rng(3)
    for size in (7, 300, 5000):
        key = rng.integers(0, size, 2000)
        codes, starts = appearance_codes(key, size=None if size_factor is None else size)
        expected, uniques = pd.factorize(key)
        np.testing.assert_array_equal(codes, expected)
        np.testing.assert_array_equal(key[starts], uniques)
        assert all(np.flatnonzero(key == u)[0] == s for u, s in zip(uniques, starts))


def test_shown_first_is_read_alike_for_categorical_and_mixed_ids():
    """shown_first compared to the ids directly, or coded with them where the dtypes do not compare."""
    base = pd.DataFrame({"option_a": ["x", "y", "x"], "option_b": ["y", "z", "z"], "n_a": [3, 1, 2],
                         "n_b": [1, 2, 2], "shown_first": ["y", "y", None]})
    expected = [-1, 1, 0]
    cat = base.astype({"option_a": "category", "shown_first": "category"})
    for table in (base, cat):
        assert validate_comparisons(table)["first"].tolist() == expected
    ints = pd.DataFrame({"option_a": [1, 2], "option_b": [2, 3], "n_a": [1, 1], "n_b": [1, 1],
                         "shown_first": [2.0, np.nan]})
    assert validate_comparisons(ints)["first"].tolist() == [-1, 0]
