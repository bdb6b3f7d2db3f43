"""Vietnamese alphabetical order of unit names (thidua.api.web.collation)."""

from thidua.api.web.collation import vi_key, vi_sorted


def test_d_with_stroke_comes_after_d_and_before_e() -> None:
    assert vi_sorted(["Em", "Đống Đa", "Dân"]) == ["Dân", "Đống Đa", "Em"]


def test_letters_with_marks_are_letters_of_their_own() -> None:
    assert vi_sorted(["Ân", "Bắc", "Ăn", "An"]) == ["An", "Ăn", "Ân", "Bắc"]
    assert vi_sorted(["Ưu", "Uy", "Ơn", "Ôn", "On"]) == ["On", "Ôn", "Ơn", "Uy", "Ưu"]


def test_tones_decide_only_between_otherwise_equal_names() -> None:
    assert vi_sorted(["Mạ", "Mả", "Mai", "Má", "Mã", "Mà", "Ma"]) == ["Ma", "Mà", "Má", "Mả", "Mã", "Mạ", "Mai"]


def test_the_wards_of_vinh_yen_in_order() -> None:
    wards = ["Tích Sơn", "Đống Đa", "Định Trung", "Đồng Tâm", "Liên Bảo", "Hội Hợp", "Khai Quang", "Ngô Quyền",
             "Thanh Trù"]
    assert vi_sorted(wards) == ["Định Trung", "Đống Đa", "Đồng Tâm", "Hội Hợp", "Khai Quang", "Liên Bảo",
                                "Ngô Quyền", "Thanh Trù", "Tích Sơn"]


def test_case_and_composition_do_not_change_the_order() -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Đống Đa")
    assert vi_key("đống đa")[:2] == vi_key("ĐỐNG ĐA")[:2] == vi_key(decomposed)[:2]
