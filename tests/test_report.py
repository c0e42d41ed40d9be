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
