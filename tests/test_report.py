from release import report


def test_check_ids_are_split_into_extension_and_check():
    assert report.parse_check_id("checks/test_manifest.py::test_schema[app/kaizen]") == ("app/kaizen", "test_manifest::test_schema")
    assert report.parse_check_id("tests/test_x.py::test_y[1-2]") is None
    assert report.parse_check_id("tests/test_x.py::test_y") is None


def test_summary_marks_an_extension_failed_when_any_check_failed():
    results = [
        report.Result("app/a", "m::one", report.PASSED),
        report.Result("app/a", "m::two", report.FAILED, "boom"),
        report.Result("tool/b", "m::one", report.PASSED),
        report.Result("tool/c", "m::one", report.SKIPPED, "no docker"),
    ]
    summary = report.summarize(results)
    assert {k: v["result"] for k, v in summary["extensions"].items()} == {"app/a": "failed", "tool/b": "passed", "tool/c": "skipped"}
    assert summary["totals"] == {"failed": 1, "passed": 1, "skipped": 1}
    assert summary["extensions"]["app/a"]["checks"][1] == {"check": "m::two", "outcome": "failed", "message": "boom"}
    text = report.summary_table(summary)
    assert "app/a" in text and "FAILED" in text and "two" in text


def test_junit_round_trip(tmp_path):
    pytest_junit = tmp_path / "in.xml"
    pytest_junit.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="s">'
        '<testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="assert 1 == 2">trace</failure></testcase>'
        '<testcase classname="tests.test_a" name="test_skip"><skipped message="no db"/></testcase>'
        "</testsuite></testsuites>"
    )
    rows = report.results_from_junit("app/a", pytest_junit)
    assert [(r.check, r.outcome, r.message) for r in rows] == [
        ("tests.test_a::test_ok", "passed", ""),
        ("tests.test_a::test_bad", "failed", "assert 1 == 2"),
        ("tests.test_a::test_skip", "skipped", "no db"),
    ]
    combined = tmp_path / "out.xml"
    report.write_junit(combined, "make test-all", rows + [report.Result("tool/b", "make test", "passed")])
    read_back = [(r.check, r.outcome) for r in report.results_from_junit("x", combined)]
    assert read_back == [(f"app/a::{r.check}", r.outcome) for r in rows] + [("tool/b::make test", "passed")]


def test_missing_or_broken_junit_gives_no_rows(tmp_path):
    assert report.results_from_junit("app/a", tmp_path / "absent.xml") == []
    (tmp_path / "broken.xml").write_text("<testsuites")
    assert report.results_from_junit("app/a", tmp_path / "broken.xml") == []
