"""HTML pages reduced to their article text."""

from __future__ import annotations

from llmx._text.html import html_to_text

STORY = (
    "<p>6日，500多人的湖州招商“特战队”相继启程奔赴招商一线，驻扎沪苏、北京、深圳三大招商引才中心。</p>"
    "<p>近日，总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。<br>随着卫蓝新能源这一链主型项目落地，"
    "南太湖新区还顺势引进总投资1.2亿元的蓝固锂电。</p>"
    "<p>今年以来&nbsp;湖州锚定八大新兴产业链精准招商，一月份已引进3亿元以上项目28个。</p>"
)

PAGE = f"""<!DOCTYPE html><html><head><title>湖州招商 - 浙江新闻</title>
<style>p {{ color: red }}</style><script>var a = "<p>脚本里的文字</p>";</script></head>
<body><div class="nav"><a href="/">首页</a> <a>财经</a> <a>体育</a></div>
<header><div class="logo">浙江新闻网</div></header>
<div class="main"><h1>湖州五百“特战队员”盯着产业链去招商</h1>
<div class="info"><span>发布时间：2024-04-28 09:12</span> <span>来源：浙江日报</span></div>
<div class="content" id="article-body">{STORY}</div>
<div class="related"><h3>相关阅读</h3><ul>
<li><a href="/x">鱼台总投资55亿元的庚彩化工新材料项目</a></li>
<li><a href="/y">另一条新闻标题在这里很长很长</a></li></ul></div>
<form><input value="搜索"></form>
</div>
<aside>热门排行：某某项目</aside>
<footer>版权所有 © 浙江日报 浙ICP备123号</footer></body></html>"""


def test_main_content_title_and_meta() -> None:
    text = html_to_text(PAGE)
    lines = text.split("\n")
    assert lines[0] == "湖州五百“特战队员”盯着产业链去招商"
    assert lines[1] == "发布时间：2024-04-28 09:12 来源：浙江日报"
    assert "总投资139亿元的卫蓝新能源固态电池项目落户南太湖新区。\n随着" in text
    assert "今年以来 湖州锚定" in text  # &nbsp; decoded, spaces collapsed
    for junk in ("脚本", "color", "首页", "浙江新闻网", "庚彩化工", "搜索", "热门排行", "版权所有"):
        assert junk not in text


def test_paragraphs_become_lines() -> None:
    text = html_to_text(PAGE)
    assert "三大招商引才中心。\n\n近日" in text


def test_article_element_preferred() -> None:
    page = (
        "<html><body><div>"
        + "<p>侧栏里的一段很长很长的文字，用来干扰内容识别，并不属于正文内容的一部分。</p>" * 2
        + "</div><article><h1>标题</h1>"
        + "<p>项目签约落地，总投资达到十亿元，预计明年投产。</p>" * 8
        + "</article></body></html>"
    )
    text = html_to_text(page)
    assert text.startswith("标题\n")
    assert "侧栏" not in text
    assert text.count("项目签约落地") == 8


def test_header_inside_article_kept() -> None:
    page = (
        "<article><header><h1>文章标题</h1><p class='meta'>日期：2023-02-07</p></header>"
        + "<p>总投资139亿元的项目落户南太湖新区，预计年内开工建设。</p>" * 6
        + "</article>"
    )
    text = html_to_text(page)
    assert text.startswith("文章标题\n\n日期：2023-02-07")


def test_hidden_and_unclosed_tags() -> None:
    page = (
        "<html><body><div id='content'><p>第一段正文内容，说明项目的投资情况和建设进度。"
        "<p>第二段正文内容，继续说明项目的投资情况和建设进度。"
        "<div style='display: none'>隐藏的文字</div>"
        "<table><tr><td>单元格一</td><td>单元格二</td></tr></table></div></body></html>"
    )
    text = html_to_text(page)
    assert "第一段正文内容" in text and "第二段正文内容" in text
    assert "隐藏" not in text
    assert "单元格一 单元格二" in text


def test_plain_fragment() -> None:
    assert html_to_text("<p>hello <b>world</b></p><p>second</p>") == "hello world\n\nsecond"
    assert html_to_text("") == ""
