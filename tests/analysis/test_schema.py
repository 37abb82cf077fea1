"""Canonical fields, the alias table and header matching."""

import pytest

from analysis import schema
from analysis.errors import ConfigError, UserError

DEMO_HEADERS = ["登记编号", "登记时间", "投诉标题", "投诉内容", "商品名称", "品牌", "被投诉方", "涉及平台", "商品类别",
                "问题类别", "诉求", "所属区", "投诉渠道", "处理状态", "涉及金额", "投诉人姓名", "联系电话"]


def test_fields_are_the_documented_ones():
    assert schema.FIELD_NAMES == (
        "complaint_id", "received_at", "text", "title", "product", "brand", "merchant", "platform", "category_raw",
        "problem_raw", "demand", "district", "channel", "status", "amount", "complainant_name", "complainant_phone",
        "complainant_id_number", "handled_at", "amount_recovered", "timely",
    )
    assert schema.REQUIRED_FIELDS == ("received_at", "text")
    assert schema.PERSONAL_FIELDS == ("complainant_name", "complainant_phone", "complainant_id_number")
    assert schema.FIELD_KINDS["received_at"] == "datetime" and schema.FIELD_KINDS["amount"] == "number"
    assert schema.FIELD_KINDS["handled_at"] == "datetime" and schema.FIELD_KINDS["amount_recovered"] == "number"


@pytest.mark.parametrize("raw, expected", [
    (" Date received ", "datereceived"),
    ("投诉内容：", "投诉内容"),
    ("＊投诉内容", "投诉内容"),
    ("\ufeff投诉编号", "投诉编号"),
    ("Consumer complaint narrative", "consumercomplaintnarrative"),
    ("ＩＤ", "id"),
])
def test_normalize_header(raw, expected):
    assert schema.normalize_header(raw) == expected


# Handling columns and the ID number are not in the demo export (real exports may have them).
NOT_IN_DEMO = {"complainant_id_number", "handled_at", "amount_recovered", "timely"}


def test_demo_export_headers_map_to_every_field():
    mapping = schema.auto_mapping(DEMO_HEADERS)
    assert sorted(mapping.values()) == sorted(set(schema.FIELD_NAMES) - NOT_IN_DEMO)
    assert mapping["投诉内容"] == "text" and mapping["登记时间"] == "received_at" and mapping["联系电话"] == "complainant_phone"


def test_real_export_headers():
    black_cat = schema.auto_mapping(["投诉标题", "投诉详情", "投诉对象", "投诉问题", "投诉要求"])
    assert black_cat == {"投诉标题": "title", "投诉详情": "text", "投诉对象": "merchant", "投诉问题": "problem_raw",
                         "投诉要求": "demand"}
    car = schema.auto_mapping(["id", "brand", "car_model", "type", "desc", "problem", "datetime", "status"])
    assert car == {"id": "complaint_id", "brand": "brand", "car_model": "product", "desc": "text",
                   "problem": "problem_raw", "datetime": "received_at", "status": "status"}
    cfpb = schema.auto_mapping(["Date received", "Product", "Sub-product", "Issue", "Sub-issue",
                                "Consumer complaint narrative", "Company", "State", "ZIP code", "Complaint ID"])
    assert cfpb == {"Date received": "received_at", "Product": "category_raw", "Sub-product": "product",
                    "Issue": "problem_raw", "Consumer complaint narrative": "text", "Company": "merchant",
                    "State": "district", "Complaint ID": "complaint_id"}
    cfpb_handling = schema.auto_mapping(["Submitted via", "Company response to consumer", "Timely response?"])
    assert cfpb_handling == {"Submitted via": "channel", "Company response to consumer": "status",
                             "Timely response?": "timely"}
    handling = schema.auto_mapping(["受理时间", "办结时间", "处理结果", "挽回经济损失", "是否按期办结", "身份证号"])
    assert handling == {"受理时间": "received_at", "办结时间": "handled_at", "处理结果": "status",
                        "挽回经济损失": "amount_recovered", "是否按期办结": "timely",
                        "身份证号": "complainant_id_number"}
    # Shop/user ids in review exports are not complaint ids.
    taobao = schema.auto_mapping(["用户ID", "会员级别", "手机参数", "昵称", "购买时间", "评论内容"])
    assert taobao == {"昵称": "complainant_name", "购买时间": "received_at", "评论内容": "text"}
    jd = schema.auto_mapping(["手机ID", "评论内容", "会员级别", "价格", "购买时间", "手机型号"])
    assert jd == {"评论内容": "text", "价格": "amount", "购买时间": "received_at", "手机型号": "product"}


@pytest.mark.parametrize("headers, field, winner", [
    (["问题描述", "投诉内容"], "text", "投诉内容"),       # 投诉内容 comes first in the alias file
    (["投诉日期", "受理时间"], "received_at", "投诉日期"),
    (["区县", "所属区"], "district", "所属区"),
])
def test_alias_priority_follows_the_file_order(headers, field, winner):
    mapping = schema.auto_mapping(headers)
    assert [h for h, f in mapping.items() if f == field] == [winner]
    assert len(mapping) == 1


def test_resolve_mapping_explicit_overrides_and_drops():
    headers = ["投诉标题", "投诉详情", "投诉对象", "留言详情"]
    mapping = schema.resolve_mapping(headers, explicit={"留言详情": "text", "投诉对象": None})
    assert mapping == {"投诉标题": "title", "留言详情": "text"}
    swapped = schema.resolve_mapping(headers, explicit={"投诉详情": "title", "投诉标题": "投诉内容"})
    assert swapped == {"投诉标题": "text", "投诉详情": "title", "投诉对象": "merchant"}


def test_resolve_mapping_remembered_replaces_aliases():
    headers = ["投诉标题", "投诉详情"]
    assert schema.resolve_mapping(headers, remembered={"投诉标题": "text"}) == {"投诉标题": "text"}
    # A remembered entry for a column the file lacks, or an unknown field, is ignored.
    assert schema.resolve_mapping(headers, remembered={"别的列": "text", "投诉详情": "nonsense"}) == {}


def test_resolve_mapping_errors_are_chinese_and_name_the_column():
    with pytest.raises(UserError, match="映射中的列「留言」不在文件表头中"):
        schema.resolve_mapping(["投诉内容"], explicit={"留言": "text"})
    with pytest.raises(UserError, match="未知字段「正文」"):
        schema.resolve_mapping(["投诉内容"], explicit={"投诉内容": "正文"})
    with pytest.raises(UserError, match="每个字段只能来自一列"):
        schema.resolve_mapping(["a", "b"], explicit={"a": "text", "b": "text"})


def test_field_name_accepts_labels():
    assert schema.field_name("投诉内容") == "text"
    assert schema.field_name("received_at") == "received_at"
    assert schema.field_name(" 登记时间 ") == "received_at"


def test_header_signature_ignores_spacing_but_not_order():
    a = schema.header_signature(["投诉内容", "登记时间"])
    assert a == schema.header_signature([" 投诉内容 ", "登记时间："])
    assert a != schema.header_signature(["登记时间", "投诉内容"])
    assert len(a) == 64


def test_header_score_counts_distinct_fields():
    assert schema.header_score(["投诉编号", "投诉日期", "投诉内容", "备注"]) == 3
    assert schema.header_score(["2017年投诉数据导出"]) == 0
    assert schema.header_score(["投诉内容", "问题描述"]) == 1


def _write(tmp_path, text, name="aliases.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_alias_file_names_file_line_and_reason(tmp_path):
    path = _write(tmp_path, "field,alias\ntext,投诉内容\nbody,正文\n")
    with pytest.raises(ConfigError, match=r"aliases.csv」，第 3 行，列「field」：未知字段「body」"):
        schema.load_aliases(path)
    path = _write(tmp_path, "field,alias\ntext,投诉内容\ntitle,投诉 内容\n")
    with pytest.raises(ConfigError, match=r"第 3 行.*已在第 2 行指向字段「text」"):
        schema.load_aliases(path)
    path = _write(tmp_path, "field,alias\ntext,？？\n")
    with pytest.raises(ConfigError, match="第 2 行.*别名为空"):
        schema.load_aliases(path)
    path = _write(tmp_path, "field,name\ntext,投诉内容\n")
    with pytest.raises(ConfigError, match="缺少列：alias"):
        schema.load_aliases(path)


def test_malformed_fields_file(tmp_path):
    header = "field,label,required,personal,kind,description\n"
    path = _write(tmp_path, header + "text,投诉内容,yes,no,string,x\n", "fields.csv")
    with pytest.raises(ConfigError, match="第 2 行.*类型「string」无效"):
        schema.load_fields(path)
    path = _write(tmp_path, header + "text,投诉内容,yes,no,text,x\ntext,正文,no,no,text,y\n", "fields.csv")
    with pytest.raises(ConfigError, match="第 3 行.*字段「text」重复定义"):
        schema.load_fields(path)


def test_bundled_alias_file_is_valid():
    aliases = schema.load_aliases()
    assert aliases["投诉内容"] == "text"
    assert aliases["datereceived"] == "received_at"
    assert set(aliases.values()) == set(schema.FIELD_NAMES)


def test_a_joined_two_level_header_matches_by_its_sub_header():
    headers = ["登记信息/登记编号", "登记信息/登记时间", "投诉内容", "商品信息/品牌", "其他/说明"]
    assert schema.auto_mapping(headers) == {"登记信息/登记编号": "complaint_id", "登记信息/登记时间": "received_at",
                                            "投诉内容": "text", "商品信息/品牌": "brand"}
    assert schema.header_score(headers) == 4
    assert schema.alias_key("登记信息/登记时间", schema.aliases()) == "登记时间"
    assert schema.alias_key("登记信息", schema.aliases()) is None
