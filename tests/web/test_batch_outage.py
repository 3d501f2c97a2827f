"""Starting a letter batch while Redis is down leaves no batch row behind (and says so)."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from casework import letters
from casework.extensions import db
from casework.models import DocumentBatch


def dead_redis_url() -> str:
    """A Redis URL on a loopback port where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def batches() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(DocumentBatch.id)))


def test_the_service_raises_and_keeps_no_batch_row_when_redis_refuses(app, estate):
    app.config["REDIS_URL"] = dead_redis_url()
    with pytest.raises(Exception, match="(?i)connect"):
        letters.start_batch(building_id=estate.unit.building_id, user=estate.supervisor)
    assert batches() == 0


@pytest.mark.parametrize("url", [None, "dead"])
def test_the_board_says_the_letter_queue_is_unreachable_and_no_batch_is_left(
        web, client, login, estate, url):
    web.config["REDIS_URL"] = dead_redis_url() if url else None
    login(estate.supervisor)
    r = client.post("/team/batches", data={"building_id": str(estate.unit.building_id)},
                    follow_redirects=True)
    assert r.status_code == 200 and r.request.path == "/team"
    assert "文书队列暂时无法连接，请稍后再试。" in r.get_data(as_text=True)
    assert batches() == 0
