"""Gazetteer lookups: official names, parents, misplaced levels, home region."""

from __future__ import annotations

import re

import pytest

from llmx.normalize._chinese import to_simplified
from llmx.normalize._gazetteer import Gazetteer, NameScanner, Place
from llmx.normalize._places import home_region, official_name, resolve_location
from tests.support import SEED_DIR


@pytest.fixture(scope="module")
def huzhou() -> Place:
    home = home_region("湖州五百“特战队员”盯着产业链去招商。湖州锚定八大新兴产业链")
    assert home is not None
    return home


def test_gazetteer_loads_and_is_cached() -> None:
    gaz = Gazetteer.load()
    assert gaz is Gazetteer.load()
    assert len(gaz.by_code) > 3000
    assert gaz.by_code["330500"].name == "湖州市"
    assert gaz.by_code["330502"].level == 3


def test_full_names_and_parents() -> None:
    assert resolve_location("浙江", "湖州", None, None) == Place(
        "浙江省", "湖州市", None, None, "330500"
    )
    place = resolve_location(None, None, "吴兴区", None)
    assert (place.province, place.city, place.district) == ("浙江省", "湖州市", "吴兴区")


def test_county_level_city_is_a_district() -> None:
    place = resolve_location(None, None, "桐乡市", None)
    assert (place.province, place.city, place.district) == ("浙江省", "嘉兴市", "桐乡市")


def test_municipality_is_province_and_city() -> None:
    place = resolve_location("重庆", None, None, None)
    assert (place.province, place.city) == ("重庆市", "重庆市")
    place = resolve_location(None, None, "渝中区", None)
    assert (place.province, place.city, place.district) == ("重庆市", "重庆市", "渝中区")


def test_autonomous_region_short_name() -> None:
    assert resolve_location("广西", None, None, None).province == "广西壮族自治区"


def test_traditional_input() -> None:
    place = resolve_location("浙江省", "衢州市", None, "智造新城")
    assert place.city == "衢州市"
    assert resolve_location(None, "桐鄉", None, None).district == "桐乡市"


def test_nantaihu_new_area_is_huzhou_not_taihu_county(huzhou: Place) -> None:
    place = resolve_location(None, None, None, "南太湖新区", home=huzhou)
    assert place == Place("浙江省", "湖州市", None, "南太湖新区", "330500")
    # also when the model puts the park in a wrong field
    assert resolve_location(None, "南太湖新区", None, None, home=huzhou).park == "南太湖新区"
    wrong = resolve_location(None, None, "太湖新区", None, home=huzhou)
    assert wrong.province == "浙江省" and wrong.district is None


def test_park_without_home_is_not_guessed() -> None:
    place = resolve_location(None, None, None, "南太湖新区")
    assert place == Place(park="南太湖新区")


def test_park_in_city_field_is_moved() -> None:
    nanjing = home_region("南京市召开大会。南京")
    place = resolve_location(None, "江宁滨江开发区", None, None, home=nanjing)
    assert place.park == "江宁滨江开发区"
    assert (place.province, place.city, place.district) == ("江苏省", "南京市", "江宁区")
    place = resolve_location("江苏省", "江宁滨江开发区", None, None)
    assert (place.city, place.district, place.park) == ("南京市", "江宁区", "江宁滨江开发区")
    # no context: the park is moved, nothing is guessed
    assert resolve_location(None, "江宁滨江开发区", None, None) == Place(park="江宁滨江开发区")


def test_levels_in_one_field_are_split() -> None:
    place = resolve_location(None, "南京市江宁区", None, None)
    assert (place.province, place.city, place.district, place.park) == (
        "江苏省",
        "南京市",
        "江宁区",
        None,
    )
    place = resolve_location(None, None, None, "宿州经开区")
    assert (place.province, place.city, place.park) == ("安徽省", "宿州市", "宿州经开区")


def test_gulou_disambiguation() -> None:
    assert resolve_location(None, None, "鼓楼区", None).city is None
    nanjing = home_region("南京市召开大会,南京")
    fuzhou = home_region("福州市召开大会,福州")
    assert resolve_location(None, None, "鼓楼区", None, home=nanjing).city == "南京市"
    assert resolve_location(None, None, "鼓楼区", None, home=fuzhou).city == "福州市"
    assert resolve_location("河南省", None, "鼓楼区", None).city == "开封市"


def test_inconsistent_district_is_kept_but_not_trusted() -> None:
    place = resolve_location(None, "湖州市", "鼓楼区", None)
    assert (place.province, place.city, place.district) == ("浙江省", "湖州市", "鼓楼区")


def test_home_fills_empty_and_partial_locations(huzhou: Place) -> None:
    assert resolve_location(None, None, None, None, home=huzhou).city == "湖州市"
    assert resolve_location("浙江省", None, None, None, home=huzhou).city == "湖州市"
    other = resolve_location(None, "苏州", None, None, home=huzhou)
    assert (other.province, other.city) == ("江苏省", "苏州市")


def test_park_with_other_city_prefix_is_not_home(huzhou: Place) -> None:
    place = resolve_location(None, None, None, "苏州工业园区", home=huzhou)
    assert place.city == "苏州市"


@pytest.mark.parametrize(
    ("seed", "city", "district"),
    [
        ("000_", "湖州市", None),
        ("001_", "衢州市", None),
        ("002_", "嘉兴市", "桐乡市"),
        ("003_", "宿州市", None),
        ("004_", "淮安市", None),
    ],
)
def test_home_region_of_seeds(seed: str, city: str, district: str | None) -> None:
    path = next(SEED_DIR.glob(f"{seed}*.txt"))
    home = home_region(path.read_text(encoding="utf-8"))
    assert home is not None
    assert (home.city, home.district) == (city, district)


def test_home_region_empty() -> None:
    assert home_region("") is None
    assert home_region("没有地名的文本") is None


def test_official_name() -> None:
    assert official_name("湖州") == "湖州市"
    assert official_name("浙江") == "浙江省"
    assert official_name("宿州经开区") is None
    assert official_name("鼓楼区") is None


def test_to_simplified() -> None:
    assert to_simplified("衢州舉行項目簽約") == "衢州举行项目签约"


def test_name_scanner_is_leftmost_longest_without_overlaps() -> None:
    scanner = NameScanner({"南京", "南京市", "京市", "市场", "湖州"})
    assert list(scanner.finditer("南京市场在湖州南京")) == [(0, "南京市"), (5, "湖州"), (7, "南京")]
    assert list(scanner.finditer("")) == [] and list(scanner.finditer("南")) == []


def test_name_scanner_matches_a_longest_first_regex_on_real_articles() -> None:
    scanner = Gazetteer.load().scanner
    names = sorted(scanner.names, key=len, reverse=True)
    oracle = re.compile("|".join(re.escape(n) for n in names))
    texts = [to_simplified(p.read_text(encoding="utf-8")) for p in sorted(SEED_DIR.glob("*.txt"))]
    texts.append("".join(sorted(names)))  # every name, back to back: overlaps everywhere
    assert len(texts) > 5
    for text in texts:
        expected = [(m.start(), m.group(0)) for m in oracle.finditer(text)]
        assert list(scanner.finditer(text)) == expected
