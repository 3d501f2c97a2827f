"""The page helpers made for speed (casework/web/fmt.py) say what their slower originals say:
kept <option> lists and the pagers' links."""

from __future__ import annotations

from flask import url_for

from casework.queries import Choices
from casework.web.fmt import options, page_url

HOSTILE = '<script>alert("x")</script>&'


def test_kept_choices_keep_their_options_made_once_and_mark_the_chosen_one(web):
    choices = Choices([(1, "1栋"), (2, HOSTILE)])
    with web.test_request_context("/queue"):
        first = str(options(choices, 2))
        assert '<option value="2" selected>&lt;script&gt;' in first
        assert '<option value="1">1栋</option>' in first
        assert choices.made  # kept for the next page
        again = str(options(choices, "1"))  # a number from the URL, as text
        assert '<option value="1" selected>' in again and '<option value="2">' in again
        assert " selected" not in str(options(choices))
        # A plain list, made anew each time, says the same.
        assert str(options(list(choices), 2)) == first


def test_a_pager_link_keeps_the_other_arguments_and_sets_its_own_page(web):
    with web.test_request_context("/queue?state=follow_up&page=3&q=a b/c&tpage=2"):
        assert page_url("page", 4) == url_for("web.queue", state="follow_up", page=4,
                                              q="a b/c", tpage=2)
        assert page_url("cpage", 2).endswith("&cpage=2")
    with web.test_request_context("/queue", base_url="http://x/casework/"):
        assert page_url("page", 2) == "/casework/queue?page=2"
