"""Tests for analysis.privacy: what is masked, what stays readable, and masking's properties.

Every number, name and address below is invented.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analysis.privacy import (
    escape_markdown,
    mask_columns,
    id_check_digit,
    looks_like_id,
    mask_name,
    mask_phone,
    mask_series,
    mask_text,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "text"

# (text, expected) — one decision per row.
CASES = [
    # mobile numbers
    ("我的手机13812345678，请联系", "我的手机138****5678，请联系"),
    ("+86 138-1234-5678", "+86 138-****-5678"),
    ("电话 0086 13912345678", "电话 0086 139****5678"),
    ("8613712345678", "86137****5678"),
    ("１３８１２３４５６７８", "１３８****５６７８"),  # full-width digits keep their width
    ("联系我：138 1234 5678。", "联系我：138 **** 5678。"),
    ("手机138.1234.5678.", "手机138.****.5678."),  # dots as separators; the full stop stays
    ("电话０２１．６２３４５６７８", "电话０２１．****５６７８"),
    ("2017-11-11 13812345678", "2017-11-11 138****5678"),  # the date stays, the mobile goes
    ("138—1111—0011", "138—****—0011"),  # other dashes (— – ―), underscores and single spaces separate too
    ("138–1111–0011，138―1111―0011", "138–****–0011，138―****―0011"),
    ("电话138_1111_0017", "电话138_****_0017"),
    ("手机 1 3 8 1 1 1 1 0 0 1 1", "手机 1 3 8 * * * * 0 0 1 1"),
    ("订单号15012345678", "订单号150****5678"),  # mobile-shaped: always masked
    # landlines
    ("电话021-62345678转123", "电话021-****5678转123"),
    ("0571 8888 8888", "0571 **** 8888"),
    ("（021）62345678", "（021）****5678"),
    ("拨打010-87654321", "拨打010-****4321"),
    ("座机：62345678", "座机：****5678"),  # local number after a phone cue
    ("客服热线400-820-8820，拨打12315", "客服热线400-820-8820，拨打12315"),  # hotlines stay
    ("才打电话400-711-6666", "才打电话400-711-6666"),
    # resident IDs
    ("身份证11010519491231002X", "身份证1101**********002X"),
    ("310104199001011233", "3101**********1233"),
    ("310104199001011230", "3101**********1230"),  # wrong check digit: ID-shaped, still masked
    ("44030519851231107x", "4403**********107x"),
    ("身份证号：123456789012345678", "身份证号：1234**********5678"),  # not ID-shaped, but after an ID cue
    ("旧身份证310104900101123", "旧身份证3101*******1123"),  # 15-digit ID
    ("订单号123456789012345678", "订单号123456789012345678"),  # no ID shape, no Luhn: stays
    ("订单号1234567890123456789", "订单号1234567890123456789"),
    ("快递单号 773012345678901", "快递单号 773012345678901"),
    ("IMEI 356938035643809", "IMEI 356938035643809"),
    # bank cards
    ("6222 0212 3456 7894", "6222 **** **** 7894"),  # passes Luhn
    ("退款到6228480012345678903", "退款到6228***********8903"),
    ("卡号6222021234567891", "卡号6222********7891"),  # fails Luhn, but after a card cue
    # e-mail, QQ, WeChat
    ("邮箱abc.def@qq.com", "邮箱a***@qq.com"),
    ("我的EMAIL:HRZJQ@163.COM", "我的EMAIL:H***@163.COM"),
    ("加QQ：123456789", "加QQ：12*****89"),
    ("邮箱abc＠qq.com", "邮箱a***＠qq.com"),  # a full-width at sign
    ("a.b＠163．com", "a***＠163．com"),
    ("微信：wxid_abc123", "微信：w***"),
    ("加wx: abc12345", "加wx: a***"),
    ("买了回力运动鞋 WXY-A217T一双", "买了回力运动鞋 WXY-A217T一双"),  # a model number, not a WeChat ID
    # names after cues
    ("姓名：张三，电话13812345678", "姓名：张*，电话138****5678"),
    ("联系人李四电话13900001111", "联系人李*电话139****1111"),
    ("本人王小明在淘宝购买", "本人王**在淘宝购买"),
    ("我叫欧阳娜娜。", "我叫欧阳**。"),
    ("收件人：赵六", "收件人：赵*"),
    ("投诉人：李平，女", "投诉人：李*，女"),
    ("本人于昨日购买", "本人于昨日购买"),  # 于 is a surname, 昨日 is no given name
    ("查找联系人里面的号码", "查找联系人里面的号码"),
    ("手机支持按姓名查找", "手机支持按姓名查找"),
    # names without a cue word: before an honorific, after 我是 ending a clause, after 代理人
    ("张三先生打来电话", "张*先生打来电话"),
    ("覃晓曼女士称", "覃**女士称"),
    ("你好，我是陈十一。", "你好，我是陈**。"),
    ("委托代理人周九龄", "委托代理人周**"),
    ("客服王先生说", "客服王先生说"),  # a surname alone identifies nobody
    ("我是潘婷的老客户", "我是潘婷的老客户"),  # 我是 followed by more than a name
    ("我是在淘宝买的", "我是在淘宝买的"),
    # detailed addresses
    ("上海市徐汇区漕溪北路88号1201室", "上海市徐汇区****"),
    ("收货地址：上海市浦东新区阳光小区5栋301", "收货地址：上海市浦东新区****"),
    ("住在漕溪北路88弄3号", "住在****"),
    ("我在阳光花园3号楼2单元501室住", "我在****住"),
    ("地址：上海市徐汇区", "地址：上海市徐汇区"),  # a district alone is no detailed address
    ("住在17层，送到5楼", "住在17层，送到5楼"),
    ("住在17层上也能听到街上的车声", "住在17层上也能听到街上的车声"),  # no house number
    ("被告知住在2号楼，", "被告知住在2号楼，"),  # a hotel building
    ("家住3号楼2单元501，", "家住****，"),
    ("地址是乡村就可寄假货？", "地址是乡村就可寄假货？"),
    ("收货地址：阳光花园，", "收货地址：****，"),  # after "地址：" an estate name is enough
    ("在超市买的，地址：北京市朝阳区建国路88号", "在超市买的，地址：北京市朝阳区****"),
    # numbers that must stay readable
    ("价格¥1299，1299元，优惠后12,345.00元", "价格¥1299，1299元，优惠后12,345.00元"),
    ("2017-11-11 下单，20171111 发货，2017年11月11日签收", "2017-11-11 下单，20171111 发货，2017年11月11日签收"),
    ("型号MK-HJ1705 iPhone 8 RTX3080 GB4806.1-2016", "型号MK-HJ1705 iPhone 8 RTX3080 GB4806.1-2016"),
    ("2017.11.11 付款1299.00元，尺码175.5 180.2，iOS 13.1.2，IP 192.168.1.100", "2017.11.11 付款1299.00元，尺码175.5 180.2，iOS 13.1.2，IP 192.168.1.100"),
    ("知道12号发货，11月11号到", "知道12号发货，11月11号到"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_masking_table(text, expected):
    assert mask_text(text) == expected
    assert mask_text(expected) == expected  # idempotent


def test_table_is_large_enough():
    assert len(CASES) >= 40


def test_nulls_and_non_strings():
    assert mask_text(None) is None
    nan = float("nan")
    assert mask_text(nan) is nan
    assert mask_text(13812345678) == "138****5678"


def test_id_helpers():
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("31010419900101123") == "3"
    assert looks_like_id("310104199001011230")  # wrong check digit, right shape
    assert looks_like_id("３１０１０４１９９００１０１１２３３")
    assert not looks_like_id("310104199013011233")  # month 13
    assert not looks_like_id("990104199001011233")  # no province 99
    assert not looks_like_id(f"3101042{dt.date.today().year + 1 - 2000:03d}0101123")


def test_real_reviews_keep_their_numbers():
    with open(FIXTURES / "privacy_real_texts.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100
    assert [mask_text(r["text"]) for r in rows] == [r["expected"] for r in rows]
    assert sum(r["text"] != r["expected"] for r in rows) == 1


def test_mask_series():
    values = pd.Series(["电话13812345678", None, "无个人信息", float("nan")], index=[3, 1, 2, 0], name="text")
    out = mask_series(values)
    assert out.index.tolist() == [3, 1, 2, 0] and out.name == "text"
    assert out.iloc[0] == "电话138****5678" and out.iloc[2] == "无个人信息"
    assert pd.isna(out.iloc[1]) and pd.isna(out.iloc[3])
    objects = pd.Series(["QQ：12345678", None], dtype=object)
    assert mask_series(objects).tolist() == ["QQ：12****78", None]
    strings = pd.Series(["邮箱abc@qq.com", pd.NA], dtype="string")
    masked = mask_series(strings)
    assert masked.dtype == strings.dtype and masked.iloc[0] == "邮箱a***@qq.com" and pd.isna(masked.iloc[1])
    big = pd.Series([t for t, _ in CASES] * 3)
    assert mask_series(big).tolist() == [e for _, e in CASES] * 3


@pytest.mark.parametrize(("name", "expected"), [
    ("张三", "张*"), ("王小明", "王**"), ("欧阳娜娜", "欧阳**"), ("欧阳", "欧*"), ("张", "*"),
    (" 李四 ", "李*"), ("张*", "张*"), ("Zhang San", "Z**** ***"), ("买买提·艾力", "买**·**"), ("", ""),
])
def test_mask_name(name, expected):
    assert mask_name(name) == expected
    assert mask_name(expected) == expected


def test_mask_name_nulls():
    assert mask_name(None) is None
    assert pd.isna(mask_name(float("nan")))


@pytest.mark.parametrize(("phone", "expected"), [
    ("13812345678", "138****5678"),
    ("+86 138-1234-5678", "+86 138-****-5678"),
    ("021-62345678", "021-****5678"),
    ("62345678", "****5678"),  # a local number in the phone column: last four digits only
    ("95588", "*5588"),
    ("1.38123E+10", "*.***23E+10"),  # mangled by Excel: still no more than four digits shown
    ("123", "***"),
])
def test_mask_phone(phone, expected):
    assert mask_phone(phone) == expected
    assert mask_phone(None) is None


def test_escape_markdown():
    text = "a*b_c <script>alert(1)</script> [x](http://e.com) :red[z] $x$ `code` #h 1. ~s~ |t|\n下一行"
    escaped = escape_markdown(text)
    assert "<script>" not in escaped and "[x](" not in escaped and ":red[" not in escaped
    assert escaped.endswith("\\|t\\|  \n下一行")
    unescaped = re.sub(r"\\(.)", r"\1", escaped.replace("  \n", "\n"))
    assert unescaped == text
    for ch in "\\`*_{}[]()#+-.!|<>~$:=^&\"'":
        assert escape_markdown(ch) == "\\" + ch
    assert escape_markdown(None) == "" and escape_markdown("投诉") == "投诉"


# -- properties --------------------------------------------------------------------------

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_ALPHABET = list("0123456789０１２３４５６７８９ -+()（）@.:：Xx*abcqQ张王李欧阳明小三路号弄室栋小区花园村"
                 "姓名联系人本我叫地址住在送到身份证卡号电话手机QQ微信，。年月日元的了是")
_DIGITS = re.compile(r"[0-9\uff10-\uff19]")


def _digit_count(text: str) -> int:
    return len(_DIGITS.findall(text))


@given(st.text(alphabet=st.sampled_from(_ALPHABET), max_size=60) | st.text(max_size=60))
@settings(max_examples=400, deadline=None)
def test_masking_is_idempotent_and_never_adds_digits(text):
    once = mask_text(text)
    assert mask_text(once) == once
    assert _digit_count(once) <= _digit_count(text)


_NO_DIGIT_TEXT = st.text(alphabet=st.sampled_from(list("我的手机电话号码是联系方式请打，。 abc张三路号")), max_size=12)


@st.composite
def _mobiles(draw):
    digits = "1" + draw(st.sampled_from("3456789")) + "".join(draw(st.lists(
        st.sampled_from("0123456789"), min_size=9, max_size=9)))
    sep = draw(st.sampled_from(["", " ", "-", ".", "—", "–", "―", "_", "\uff0d"]))
    if draw(st.integers(0, 5)) == 0:  # every digit apart: 1 3 8 1 2 3 4 5 6 7 8
        shown = " ".join(digits)
    else:
        shown = f"{digits[:3]}{sep}{digits[3:7]}{sep}{digits[7:]}"
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "0086 ", "86-"]))
    shown = prefix + shown
    if draw(st.booleans()):
        shown = shown.translate(_FULLWIDTH)
    return digits, shown


@given(_mobiles(), _NO_DIGIT_TEXT, _NO_DIGIT_TEXT)
@settings(max_examples=300, deadline=None)
def test_every_valid_mobile_is_masked(mobile, before, after):
    digits, shown = mobile
    assume(not before.endswith(("+", "-")))
    masked = mask_text(before + shown + after)
    plain = re.sub(r"\D", "", masked.translate(str.maketrans("０１２３４５６７８９", "0123456789")).replace("*", "x"))
    assert digits not in plain
    if digits[-4:] in plain:
        assert "****" in masked.replace(" ", "")  # shown as 138****5678 (or 1 3 8 * * * * 5 6 7 8)
    else:  # between 路 and 号 it reads as a house number and the address rule hides it whole
        assert re.search(r"路.*号", before + shown + after) and not re.search(r"\d{4}", plain)


@st.composite
def _ids(draw):
    province = draw(st.sampled_from(["11", "31", "44", "51", "65", "81"]))
    region = province + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=4, max_size=4)))
    born = draw(st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2020, 12, 31)))
    seq = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=3, max_size=3)))
    body = region + born.strftime("%Y%m%d") + seq
    return body + id_check_digit(body)


@given(_ids(), _NO_DIGIT_TEXT, _NO_DIGIT_TEXT)
@settings(max_examples=200, deadline=None)
def test_every_valid_id_is_masked(number, before, after):
    masked = mask_text(before + number + after)
    assert number not in masked
    assert number[:4] + "*" * 10 + number[-4:] in masked


def test_mask_columns_by_field_and_by_pattern():
    raw = pd.DataFrame({"姓名": ["张三丰"], "电话": ["13812345678"], "内容": ["请回电13912345678，订单金额1299元"]})
    out = mask_columns(raw, {"姓名": "complainant_name", "电话": "complainant_phone", "内容": "text"})
    assert out.loc[0, "姓名"] == mask_name("张三丰") and out.loc[0, "姓名"] != "张三丰"
    assert out.loc[0, "电话"] == "138****5678"
    assert "13912345678" not in out.loc[0, "内容"] and "1299元" in out.loc[0, "内容"]
    assert raw.loc[0, "电话"] == "13812345678"  # the input is left as it was


_SURNAME_SAMPLE = list("张王李陈周覃刘赵黄吴") + ["欧阳", "诸葛", "司马"]
_GIVEN_SAMPLE = list("三晓曼十一九龄明华伟芳娜秀英")


@st.composite
def _named(draw):
    """A name in one of the cue-free forms: 张三先生, 我是陈十一。, 委托代理人周九龄."""
    surname = draw(st.sampled_from(_SURNAME_SAMPLE))
    given = "".join(draw(st.lists(st.sampled_from(_GIVEN_SAMPLE), min_size=1, max_size=2)))
    form = draw(st.sampled_from(["{}先生", "{}女士", "{}小姐", "我是{}。", "我是{}，", "委托代理人{}", "代理人：{}，"]))
    return surname, given, form.format(surname + given)


@given(_named(), st.sampled_from(["", "你好，", "来电称", "今天"]), st.sampled_from(["", "反映", "要求退款。"]))
@settings(max_examples=300, deadline=None)
def test_every_cue_free_name_is_masked(named, before, after):
    surname, given, shown = named
    masked = mask_text(before + shown + after)
    assert surname + "*" * len(given) in masked
    assert surname + given not in masked


@given(st.text(alphabet=st.sampled_from(list("abcxyz019._")), min_size=1, max_size=8).filter(lambda s: s[0].isalnum()),
       st.sampled_from(["@", "\uff20"]), st.sampled_from(["qq.com", "163.com", "example.com.cn", "126\uff0ecom"]),
       _NO_DIGIT_TEXT)
@settings(max_examples=200, deadline=None)
def test_every_email_is_masked(local, at, domain, before):
    masked = mask_text(before + "邮箱" + local + at + domain + "，")
    assert local[0] + "***" + at + domain in masked
    if len(local) > 1:
        assert local + at not in masked


def test_drop_personal_tokens_keeps_only_what_the_masked_text_shows():
    from analysis import privacy

    text = "姓名：张伟，邮箱 ZhangWei@qq.com，地址：上海市浦东新区世纪大道100号，手机13812345678，水壶漏电"
    tokens = "姓名 张伟 邮箱 zhangwei qq com 地址 上海市 浦东新区 世纪大道 100 号 手机 13812345678 水壶 漏电"
    kept = privacy.drop_personal_tokens(tokens, text).split()
    assert {"张伟", "zhangwei", "世纪大道", "13812345678"}.isdisjoint(kept)
    assert {"漏电", "水壶", "姓名", "上海市", "浦东新区"} <= set(kept)
    # nothing to mask: tokens unchanged; missing text or tokens never fail
    assert privacy.drop_personal_tokens("水壶 漏电", "水壶漏电") == "水壶 漏电"
    assert privacy.drop_personal_tokens(None, None) == ""
    assert privacy.drop_personal_tokens("水壶", None) == "水壶"
