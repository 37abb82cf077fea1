"""Masking of personal data in complaint text and in the complainant columns.

:func:`mask_text` hides what identifies a complainant while keeping the text
readable for analysts (example → shown as):

* mainland mobile: ``+86 138-1234-5678`` → ``+86 138-****-5678``
* landline: ``021-62345678`` → ``021-****5678``; ``0571 8888 8888`` → ``0571 **** 8888``;
  a local number after a phone cue: ``电话：62345678`` → ``电话：****5678``
* resident ID (18 or 15 characters): ``310104199001011233`` → ``3101**********1233``
* bank card (16–19 digits): ``6222 0212 3456 7894`` → ``6222 **** **** 7894``
* e-mail: ``abc@qq.com`` → ``a***@qq.com``; QQ number / WeChat ID after its cue:
  ``QQ：12345678`` → ``QQ：12****78``, ``微信：wxid_ab12`` → ``微信：w***``
* name after a cue: ``姓名：张三`` → ``姓名：张*``, ``本人王小明`` → ``本人王**``, ``覃晓曼女士`` → ``覃**女士``
* detailed address: ``上海市徐汇区漕溪北路88号1201室`` → ``上海市徐汇区****``

Decisions (each pinned by a test case in ``tests/analysis/test_privacy.py``):

* Digits may be half- or full-width (``１３８…``) and grouped by spaces,
  hyphens, other dashes (``138—1111—0011``), underscores or dots
  (``138.1234.5678``), even one digit at a time (``1 3 8 1 2 …``); masked
  digits become ``*``, everything else keeps its characters. An e-mail may
  have a full-width ``＠``.
* A resident ID is recognised by its *shape* — a valid province code and a
  plausible birth date — not by its check digit: an ID with a mistyped
  check digit is still personal data and is masked. After an ID cue
  (身份证, 证件号 …) any 18- or 15-character number is masked.
* Long numbers that are not ID-shaped (order numbers, tracking numbers) stay
  readable unless they pass the Luhn check at bank-card length (16–19 digits)
  or follow a card cue (卡号, 银行卡, 账号 …). So roughly one order number in
  ten (those that happen to pass Luhn) is masked — privacy wins ties.
* Prices (¥1299, 1299元), dates (2017-11-11, 20171111), amounts, model numbers
  (MK-HJ1705, iPhone 8, RTX3080), service hotlines (400-820-8820, 12315) stay
  readable. An 11-digit number shaped like a mobile is always masked, even if
  it was an order number.
* Names are masked after a cue (姓名：, 本人, 委托代理人 …), before an
  honorific (``张三先生`` → ``张*先生``) and after 我是 when the clause ends
  there (``我是陈十一。``), keeping the surname; addresses keep
  their administrative part (省/市/区/县/镇) and hide the rest as ``****``.

Masking is idempotent and never adds digits. :func:`escape_markdown` makes any
text (masked or not) safe to pass to ``st.markdown``.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from analysis.textutil import to_halfwidth

MASK = "*"
ADDRESS_MASK = "****"

_D = "0-9\uff10-\uff19"  # half- and full-width digits (inside a character class)
# Separators allowed inside a phone/card number: space, hyphen and the other dashes (‐ ‑ ‒ – — ― −),
# underscore, dots (138.1234.5678 too).
_SEP = " \\-\uff0d\u2010-\u2015\u2212_.\uff0e"
_CJK = "\u4e00-\u9fff"

_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
})
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_ID_CUE = re.compile(r"身份证|证件|身份号|公民身份|证号")
_CARD_CUE = re.compile(r"卡号|银行卡|信用卡|储蓄卡|借记卡|账号|帐号|账户|帐户|卡")
_PHONE_CUE = re.compile(r"电话|手机|座机|联系方式|号码|致电|tel|TEL|Tel|phone|Phone")
_CUE_WINDOW = 12

# Common surnames (single and compound): a name after a weak cue must start with one.
_COMPOUND_SURNAMES = (
    "欧阳 司马 诸葛 上官 东方 皇甫 令狐 慕容 夏侯 公孙 长孙 宇文 司徒 尉迟 独孤 端木 南宫 "
    "轩辕 呼延 申屠 澹台 太史 西门 万俟 百里 钟离 闻人 赫连 第五").split()
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房"
    "滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟"
    "应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
# Characters that do not occur in a given name but often follow a cue word.
_NOT_GIVEN = (
    "的了是在于和与及或被把将对向从到给为因所以而但就都也还又很太更最不没无未已曾正着过之其这那"
    "哪些个们我你他她它某先生女士姐同学老师傅经理店家商客服买卖购退换款货单号码电话手机公司"
    "厂快递物流年月日时分秒天周今昨前后上下左右内外里去来说讲问答请求要想希望能可会应该需等样"
    "种次件只条元块钱价格质量题情况投诉举报反映联系处理解决发收到用使做让叫姓名称住址省市区县镇间找查"
    "乡村路街号室栋楼层男女性别年岁身份证控粉迷党族")
_NAME_END = (
    r"(?!\*)(?=$|[^" + _CJK + r"]|先生|女士|小姐|同学|老师|师傅|在|于|的|是|已|曾|因|向|从|和|与|及|等|称|说|"
    r"表示|要求|电话|手机|联系|身份|证件|地址|住|家住|收货|收件|购买|投诉|反映|举报|性别|男|女|今|昨|去年|今年)")
_STRONG_NAME_CUES = r"真实姓名|姓名|联系人|收件人|收货人|寄件人|户名|持卡人"
_WEAK_NAME_CUES = (r"投诉人|举报人|申请人|当事人|委托代理人|代理人|委托人|本人叫|本人名叫|本人|我叫|名叫|"
                   r"我的名字是|我的名字叫|名字叫|名字是")
# A name is also recognised before an honorific without any cue (张三先生, 覃晓曼女士), and after
# 我是 when the sentence ends right after it (我是陈十一。 but not 我是潘婷的老客户).
_HONORIFICS = r"先生|女士|小姐"
_SELF_CUE = r"我是"
_CLAUSE_END = r"(?=$|[，。,.!！?？；;、\s)）])"

_ADDR_NOUN_CUES = r"收货地址|收件地址|家庭住址|家庭地址|详细地址|联系地址|通讯地址|住址|地址"
_ADDR_VERB_CUES = r"居住在|家住在|家住|现住|住在|寄到|寄往|寄至|送到|送至"
_ADDR_TERMINATORS = "，。；;,!！?？\\s"
# After "地址：" an address word is enough; otherwise a house number must show it is an address.
_ADDR_KEYWORDS = re.compile(r"路|街|巷|弄|胡同|栋|幢|室|单元|小区|新村|花园|公寓|苑|家园|大厦")
_ADDR_EVIDENCE = re.compile(
    r"(?:路|街|巷|胡同|弄|小区|新村|花园|家园|公寓|苑|村|大厦)[" + _D + r"]|[" + _D + r"](?:单元|室|弄|组)"
    r"|[" + _D + r"](?:号楼|栋|幢)[" + _D + r"]")
_ADMIN_PREFIX = re.compile(
    r"(?:[" + _CJK + r"]{1,8}?(?:特别行政区|自治区|自治州|自治县|街道|省|(?<![超门])市|地区|盟|"
    r"(?<![小社园校景厂])区|县|旗|镇|乡))*")
# Characters that cannot belong to a road or estate name (walking left from its suffix).
_NOT_PLACE = set("省市区县镇乡村在住于到至是从的了和与及往向去来址我你他她家里个*") | set("0123456789")
_PLACE_NAME_MAX = 5
_UNITS = r"(?:号楼|号院|支弄|号|弄|栋|幢|座|单元|楼|层|室|户|组|门)"
_UNIT_NUM = r"[" + _D + r"]{1,5}(?:[\-\uff0d\u2014][" + _D + r"]{1,5})*"
_ADDR_TAIL = r"(?:" + _UNIT_NUM + _UNITS + r")+(?:[" + _D + r"]{2,5}(?![" + _D + r"])室?)?"

_BRANCHES = {
    # e-mail: keep the first character of the local part and the domain
    "email": r"(?P<email>(?=[A-Za-z0-9])(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*[@\uff20][A-Za-z0-9\-]+"
             r"(?:[.\uff0e][A-Za-z0-9\-]+)*[.\uff0e][A-Za-z]{2,}(?![A-Za-z]))",
    # QQ number / WeChat ID after their cue
    "qq": r"(?P<qqcue>(?=[Qq扣])(?<![A-Za-z])(?:QQ|qq|Qq|扣扣)(?:号码|号)?[:：\s]*(?:是|为)?)(?P<qq>[1-9][0-9]{4,11})(?![0-9])",
    "wx": r"(?P<wxcue>(?:(?:微信号|微信)[:：\s]*|(?<![A-Za-z])(?:vx|VX|wx|WX|wechat|WeChat|weixin)\s*[:：]\s*)"
          r"(?:是|为)?)"
          r"(?P<wx>[A-Za-z][\-_A-Za-z0-9]{5,19})(?![\-_A-Za-z0-9])",
    # a digit run, possibly grouped and prefixed: phones, IDs, cards
    "num": r"(?P<num>(?=[" + _D + r"+\uff0b(\uff08])(?<![" + _D + r"])(?:[+\uff0b](?:86|\uff18\uff16)[" + _SEP + r"]?)?"
           r"(?:[(\uff08][0\uff10][" + _D + r"]{2,3}[)\uff09][" + _SEP + r"]?)?"
           r"(?=(?:[" + _D + r"][" + _SEP + r"]?){7})"
           r"[" + _D + r"]+(?:[" + _SEP + r"][" + _D + r"]+)*[Xx]?(?![" + _D + r"]))",
    # a name after a strong cue with a colon (any surname) or after any cue (known surnames only)
    "sname": r"(?P<scue>(?:" + _STRONG_NAME_CUES + r")[:：]\s*)"
             r"(?P<sname>(?![" + _NOT_GIVEN + r"])[" + _CJK + r"](?:(?![" + _NOT_GIVEN + r"])[" + _CJK
             + r"]){1,3})" + _NAME_END,
    "wname": r"(?P<wcue>(?:" + _STRONG_NAME_CUES + "|" + _WEAK_NAME_CUES + r")[:：\s]*(?:是|为)?)"
             r"(?P<wname>(?:" + "|".join(_COMPOUND_SURNAMES) + r"|[" + _SURNAMES + r"])"
             r"(?:(?![" + _NOT_GIVEN + r"])[" + _CJK + r"]){1,2})" + _NAME_END,
    # a name (known surname and a given name) right before an honorific: 张三先生 → 张*先生
    "hname": r"(?P<hname>(?:" + "|".join(_COMPOUND_SURNAMES) + r"|[" + _SURNAMES + r"])"
             r"(?:(?![" + _NOT_GIVEN + r"])[" + _CJK + r"]){1,2})(?=" + _HONORIFICS + r")",
    "iname": r"(?P<icue>" + _SELF_CUE + r")(?P<iname>(?:" + "|".join(_COMPOUND_SURNAMES) + r"|[" + _SURNAMES
             + r"])(?:(?![" + _NOT_GIVEN + r"])[" + _CJK + r"]){1,2})" + _CLAUSE_END,
    # an address after a cue
    "adetail": r"(?P<acue>(?:(?P<noun>" + _ADDR_NOUN_CUES + r")|" + _ADDR_VERB_CUES
               + r")(?P<asep>[:：]\s*|\s*(?:是|为)\s*)?)"
               r"(?P<adetail>[^" + _ADDR_TERMINATORS + r"*]{2,40})(?=[" + _ADDR_TERMINATORS + r"]|$)",
    # a road or an estate followed by house numbers (the name is found walking left)
    "place": r"(?P<place>(?:大街|大道|胡同|路|街|巷|小区|新村|花园|家园|公寓|大厦|苑|村)" + _ADDR_TAIL + r")",
}
# Texts holding a cue word get every rule; texts with only digits or "@" the cue-free ones.
_MASTER = re.compile("|".join(_BRANCHES.values()))
_MASTER_NUMERIC = re.compile("|".join(_BRANCHES[k] for k in ("email", "qq", "num", "place")))
_CUE_WORDS = tuple(sorted({
    c for c in "|".join((_STRONG_NAME_CUES, _WEAK_NAME_CUES, _HONORIFICS, _SELF_CUE, _ADDR_NOUN_CUES, _ADDR_VERB_CUES,
                         "微信|vx|VX|wx|WX|wechat|WeChat|weixin")).split("|")}))
_CUE_WORDS = tuple(c for c in _CUE_WORDS if not any(o != c and o in c for o in _CUE_WORDS))
# One telling character per cue word (skipping very common ones) for a cheap first test.
_COMMON_CHARS = set("我是在人的本家收现件事送住名地叫至")
_CUE_CHARS = re.compile("[" + "".join(sorted({
    next((ch for ch in c if ch not in _COMMON_CHARS), c[0]) for c in _CUE_WORDS})) + "]")
# The cue-free rules need 5+ digits (QQ; phones, IDs and cards need 7+), "@", or a house number.
_NUMERIC_TRIGGER = re.compile(r"[" + _D + r"](?:[" + _SEP + r"]?[" + _D + r"]){4}|[路街巷弄同区村园寓厦苑道]["
                              + _D + r"]")
_GROUP = re.compile(r"[" + _D + r"]+[Xx]?")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'])")


# -- number classification ----------------------------------------------------

def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _valid_date(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= dt.date.today().year:
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def id_check_digit(first17: str) -> str:
    """The check character of an 18-digit resident ID (GB 11643) from its first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def looks_like_id(number: str) -> bool:
    """True for an 18- or 15-character resident ID shape: province code and plausible birth date.

    The check digit is not required (see the module notes).
    """
    number = to_halfwidth(number).upper()
    if len(number) == 18 and number[:17].isdigit() and (number[17].isdigit() or number[17] == "X"):
        return number[:2] in _PROVINCES and _valid_date(int(number[6:10]), int(number[10:12]),
                                                        int(number[12:14]))
    if len(number) == 15 and number.isdigit():
        return number[:2] in _PROVINCES and _valid_date(1900 + int(number[6:8]), int(number[8:10]),
                                                        int(number[10:12]))
    return False


def _is_date(d: str) -> bool:
    return len(d) == 8 and _valid_date(int(d[:4]), int(d[4:6]), int(d[6:8]))


def _mobile(d: str) -> range | None:
    off = 4 if d.startswith("0086") and len(d) == 15 else 2 if d.startswith("86") and len(d) == 13 else 0
    if len(d) - off == 11 and d[off] == "1" and d[off + 1] in "3456789" and d[off:].isdigit():
        return range(off + 3, off + 7)
    return None


def _landline(d: str) -> range | None:
    if not d.isdigit():
        return None
    if d.startswith("86") and 11 <= len(d) <= 12 and d[2] != "0":  # +86 21 12345678
        inner = _landline("0" + d[2:])
        return None if inner is None else range(inner.start + 1, inner.stop + 1)
    if len(d) < 10 or d[0] != "0":
        return None
    if d[1] == "1":
        if not d.startswith("010"):
            return None
        area = 3
    elif d[1] == "2":
        area = 3
    elif d[1] in "3456789":
        area = 4
    else:
        return None
    local = d[area:]
    if 7 <= len(local) <= 8 and local[0] != "0":
        return range(area, len(d) - 4)
    return None


class _Context:
    """Lazily evaluated cues in the text just before a number."""

    def __init__(self, text: str, start: int) -> None:
        self.before = text[max(0, start - _CUE_WINDOW):start]
        self._cache: dict[str, bool] = {}

    def has(self, kind: str) -> bool:
        if kind not in self._cache:
            pattern = {"id": _ID_CUE, "card": _CARD_CUE, "phone": _PHONE_CUE}[kind]
            self._cache[kind] = pattern.search(self.before) is not None
        return self._cache[kind]


def _structured(d: str, ctx: _Context, whole: bool) -> range | None:
    """Mask positions for a mobile, landline, ID or cued local number; None if it is none.

    ``whole`` says whether ``d`` is the whole grouped number (a local number
    after a phone cue is only accepted then: 400-711-6666 holds no 711-6666).
    """
    n = len(d)
    if n in (18, 15) and (looks_like_id(d) or (ctx.has("id") and d[:-1].isdigit())):
        return range(4, n - 4)
    if d[-1] in "Xx":  # a letter after the number, not an ID check character
        d, n = d[:-1], n - 1
    hit = _mobile(d) or _landline(d)
    if hit:
        return hit
    if whole and n in (7, 8) and d[0] in "23456789" and not _is_date(d) and ctx.has("phone"):
        return range(0, n - 4)
    return None


def _card(d: str, ctx: _Context, whole: bool) -> range | None:
    d = d.rstrip("Xx")
    if 16 <= len(d) <= 19 and d.isdigit() and (_luhn(d) or ctx.has("card")):
        return range(4, len(d) - 4)
    return None


def _mask_number(token: str, text: str, start: int) -> str:
    groups = [(m.start(), to_halfwidth(m.group())) for m in _GROUP.finditer(token)]
    ctx = _Context(text, start)
    n = len(groups)
    masked: list[tuple[int, int, range]] = []  # (first group, end group, digit positions)

    def greedy(lo: int, hi: int, test) -> None:
        i = lo
        while i < hi:
            # Up to six groups, or more while they hold at most 19 digits (1 3 8 1 2 3 4 5 6 7 8).
            top, digits = i, 0
            while top < hi and (top < i + 6 or digits + len(groups[top][1]) <= 19):
                digits += len(groups[top][1])
                top += 1
            for j in range(top, i, -1):
                d = "".join(g for _, g in groups[i:j])
                hit = test(d, ctx, i == 0 and j == n)
                if hit:
                    masked.append((i, j, hit))
                    i = j
                    break
            else:
                i += 1

    greedy(0, n, _structured)
    covered = sorted((i, j) for i, j, _ in masked)
    free, pos = [], 0
    for i, j in covered:
        if pos < i:
            free.append((pos, i))
        pos = j
    if pos < n:
        free.append((pos, n))
    for lo, hi in free:
        greedy(lo, hi, _card)
    if not masked:
        return token
    chars = list(token)
    for i, _j, hit in masked:
        wanted = set(hit)
        k = 0
        for g_start, g in groups[i:_j]:
            for offset in range(len(g)):
                if k in wanted:
                    chars[g_start + offset] = MASK
                k += 1
    return "".join(chars)


# -- names and addresses ------------------------------------------------------

def _mask_given(name: str) -> str:
    keep = 2 if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES else 1
    return name[:keep] + MASK * (len(name) - keep)


def _mask_address_detail(detail: str, *, strict: bool) -> str | None:
    """Keep the administrative prefix, hide the rest; None when it is no detailed address.

    ``strict`` (no "地址：" before it) asks for a house number next to a road, an estate
    or a unit (漕溪北路88号, 5栋301); otherwise an address word (阳光花园) is enough.
    """
    admin = _ADMIN_PREFIX.match(detail).end()
    rest = detail[admin:]
    if not rest or not (_ADDR_EVIDENCE if strict else _ADDR_KEYWORDS).search(rest):
        return None
    return detail[:admin] + ADDRESS_MASK


def _pattern_for(text: str) -> re.Pattern | None:
    """The cheapest pattern that can find everything to mask in ``text`` (None: nothing can match)."""
    if _CUE_CHARS.search(text) is not None and any(cue in text for cue in _CUE_WORDS):
        return _MASTER
    if "@" in text or "\uff20" in text or _NUMERIC_TRIGGER.search(text) is not None:
        return _MASTER_NUMERIC
    return None


def _mask(text: str, pattern: re.Pattern = _MASTER) -> str:
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        kind = m.lastgroup
        start, end = m.start(), m.end()
        if kind == "email":
            at = re.search("[@\uff20]", m.group()).start()
            repl = m.group()[0] + MASK * 3 + m.group()[at:]
        elif kind == "qq":
            num = m.group("qq")
            keep = 2 if len(num) >= 7 else 1
            repl = m.group("qqcue") + num[:keep] + MASK * (len(num) - 2 * keep) + num[-keep:]
        elif kind == "wx":
            repl = m.group("wxcue") + m.group("wx")[0] + MASK * 3
        elif kind == "num":
            repl = _mask_number(m.group(), text, start)
        elif kind == "sname":
            repl = m.group("scue") + _mask_given(m.group("sname"))
        elif kind == "wname":
            repl = m.group("wcue") + _mask_given(m.group("wname"))
        elif kind == "hname":
            repl = _mask_given(m.group("hname"))
        elif kind == "iname":
            repl = m.group("icue") + _mask_given(m.group("iname"))
        elif kind == "adetail":
            detail = m.group("adetail")
            masked = _mask_address_detail(
                detail, strict=m.group("noun") is None or m.group("asep") is None)
            repl = m.group("acue") + (_mask(detail) if masked is None else masked)
        else:  # place: walk left over the road / estate name
            name_start = start
            while (name_start > pos and start - name_start < _PLACE_NAME_MAX
                   and text[name_start - 1] not in _NOT_PLACE and "\u4e00" <= text[name_start - 1] <= "\u9fff"):
                name_start -= 1
            start = name_start
            repl = ADDRESS_MASK
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# -- public API ---------------------------------------------------------------

def _is_null(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def mask_text(text: str | None) -> str | None:
    """Mask personal data in a free text (see the module notes for what and how).

    Args:
        text: any text; ``None`` and NaN are returned unchanged, other
            non-strings are converted with ``str``.

    Returns:
        The text with phones, IDs, cards, e-mails, QQ/WeChat IDs, names after
        cues and detailed addresses masked.
    """
    if _is_null(text):
        return text
    if not isinstance(text, str):
        text = str(text)
    pattern = _pattern_for(text)
    return text if pattern is None else _mask(text, pattern)


def mask_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_text` over a Series (nulls stay null, index and name kept)."""
    out = [mask_text(v) for v in values.tolist()]
    dtype = values.dtype if pd.api.types.is_string_dtype(values.dtype) else object
    return pd.Series(out, index=values.index, name=values.name, dtype=dtype)



def mask_columns(frame: pd.DataFrame, fields: dict[str, str | None]) -> pd.DataFrame:
    """Mask every cell of a raw table: by field where the column is mapped, by pattern elsewhere.

    Args:
        frame: raw columns as read from an export.
        fields: source column → canonical field; columns mapped to ``complainant_name`` or
            ``complainant_phone`` get :func:`mask_name` / :func:`mask_phone`, every other
            column :func:`mask_series`.

    Returns:
        A masked copy.
    """
    out = frame.copy()
    for column in out.columns:
        field = fields.get(column)
        if field == "complainant_name":
            out[column] = out[column].map(mask_name)
        elif field == "complainant_phone":
            out[column] = out[column].map(mask_phone)
        else:
            out[column] = mask_series(out[column].astype(object))
    return out

def mask_name(name):
    """Mask a complainant's name, keeping the surname: 张三 → 张*, 欧阳娜娜 → 欧阳**.

    Non-Chinese names keep their first letter (``Zhang San`` → ``Z**** ***``), separators
    such as ``·`` stay, a one-character name becomes ``*``. Nulls are returned unchanged.
    """
    if _is_null(name):
        return name
    name = str(name).strip()
    if len(name) <= 1:
        return MASK * len(name)
    keep = 2 if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES else 1
    return name[:keep] + "".join(ch if ch in " ·•.-" else MASK for ch in name[keep:])


def mask_phone(phone):
    """Mask a complainant's phone column: 13812345678 → 138****5678, 021-12345678 → 021-****5678.

    A value not recognised as a phone number keeps only its last four digits.
    Nulls are returned unchanged.
    """
    if _is_null(phone):
        return phone
    phone = str(phone).strip()
    masked = mask_text(phone)
    if masked != phone:
        return masked
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    hide = set(digits[:-4]) if len(digits) > 4 else set(digits)
    return "".join(MASK if i in hide else ch for i, ch in enumerate(phone))


def escape_markdown(text: str | None) -> str:
    """Escape a text so that ``st.markdown`` shows it literally (no HTML, links, LaTeX or directives).

    Line breaks are kept as Markdown hard breaks.
    """
    if _is_null(text):
        return ""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text))
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")


def _token_form(text: str) -> str:
    return to_halfwidth(text).lower()


def drop_personal_tokens(tokens: str | None, text: str | None) -> str:
    """The space-joined ``tokens`` of ``text`` without those :func:`mask_text` hides there.

    A token is personal when it occurs in the text but no longer in its masked
    form (a name after a cue, an e-mail's local part, the road of an address, the
    digits of a phone): terms, labels and keywords built from the kept tokens show
    nothing the masked text does not (``姓名：张伟，漏电`` keeps ``漏电``, drops ``张伟``).
    Tokens are compared in their segmentation form (half-width, lower case).
    """
    if not tokens:
        return tokens or ""
    masked = mask_text(text)
    if _is_null(text) or masked is text or masked == text:
        return tokens
    plain, hidden = _token_form(str(text)), _token_form(masked)
    return " ".join(t for t in tokens.split() if t not in plain or t in hidden)
