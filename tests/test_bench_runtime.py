"""The benchmarks' shared command-line type and load line (benchmarks.runtime)."""
import argparse
import os

import pytest

from benchmarks.runtime import load_average, positive_counts


def test_counts_are_parsed_and_bad_ones_refused():
    assert positive_counts("1,2") == [1, 2] and positive_counts(" 8 ,") == [8]
    for bad in ("0", "1,x", "", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_counts(bad)


def test_the_load_line_holds_the_three_averages():
    values = load_average().split()
    assert len(values) == 3 and [float(v) for v in values] == pytest.approx(os.getloadavg(), abs=0.6)
