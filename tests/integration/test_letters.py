"""Letters through casework: rows -> facts -> rendered .docx in the store, dispatch, delivery
proof, template versions, evidence packs (DESIGN §5, legal-rules (c), B3, G5).

Everything runs in-process (`sweep(inline=True)` or the job bodies); the RQ worker and
PostgreSQL paths are in test_documents_worker.py.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from docx import Document as DocxFile

from casework import jobs, letters, services, storage
from casework.extensions import db
from casework.models import (
    CaseEvent,
    ChargeLine,
    Document,
    DunningCase,
    Policy,
    TemplateVersion,
)
from casework.sweep import batch_job_id, sweep
from documents.render import docx_text, find_office, template_path
from tests.factories import LETTER_POLICY, debtor, two_contacts, unit

HOSTILE_NAME = 'A&B <公司> "引号"'
SMALL, LARGE = Decimal("0.01"), Decimal("9999999.99")



# -- helpers ------------------------------------------------------------------------------------


def use_letter_policy(community_id: int, **blocks) -> None:
    """Fill the company, contract and law-firm blocks of every policy version."""
    for policy in db.session.scalars(sa.select(Policy).where(Policy.community_id == community_id)):
        data = dict(policy.data)
        for key in LETTER_POLICY.keys() | blocks.keys():
            data[key] = {**data.get(key, {}), **LETTER_POLICY.get(key, {}),
                         **blocks.get(key, {})}
        policy.data = data
    db.session.commit()


@pytest.fixture
def lettered(estate):
    use_letter_policy(estate.community.id)
    return estate


_n = iter(range(1, 10**6))


def hostile_case(estate, now, name: str = HOSTILE_NAME, amounts=(SMALL, LARGE),
                 rate: Decimal | None = None, **debtor_kw) -> DunningCase:
    """A debtor with markup in the name owing ¥0.01 and ¥9,999,999.99 (2024-01, 2024-02)."""
    n = next(_n)
    u = unit(estate.community, building=f"H{n}栋", number=f"{n:03d}室")
    d = debtor(name=name, phone=f"137{n:08d}", **debtor_kw)
    ids = []
    for month, amount in enumerate(amounts, start=1):
        line = services.charge_line(u.id, d.id, f"2024年{month:02d}月", date(2024, month, 1),
                                    date(2024, month, 28), date(2024, month, 28), amount,
                                    contract_daily_rate=rate)
        db.session.flush()
        ids.append(line.id)
    db.session.commit()
    return services.open_case(d.id, estate.community.id, ids, estate.supervisor,
                              assignee_id=estate.collector.id, now=now)


def docs(case_id: int, kind: str | None = None) -> list[Document]:
    db.session.expire_all()
    query = sa.select(Document).where(Document.case_id == case_id).order_by(Document.id)
    if kind:
        query = query.where(Document.kind == kind)
    return list(db.session.scalars(query))


def text_of(doc: Document) -> str:
    assert doc.status == "rendered", doc.error
    return docx_text(storage.read(doc.path))


def to_demand(estate, case_id: int, now) -> Document:
    services.fire_event(case_id, "start_outreach", estate.collector, now=now)
    services.fire_event(case_id, "escalate_follow_up", estate.collector, now=now)
    two_contacts(case_id, estate.collector, now)
    services.fire_event(case_id, "issue_demand", estate.collector, now=now)
    return docs(case_id, "payment_demand")[-1]


def deliver(case_id: int, user, now, grade: str = "A", **params):
    return services.fire_event(case_id, "record_delivery", user,
                               {"grade": grade, "delivered_on": now.date().isoformat(), **params},
                               now=now)


def assert_holds(text: str, name: str = HOSTILE_NAME) -> None:
    assert name in text
    assert "¥0.01" in text and "¥9,999,999.99" in text


# -- every letter the lifecycle causes, with hostile data ---------------------------------------


def test_each_letter_of_the_lifecycle_renders_hostile_data(lettered, now):
    estate = lettered
    case = hostile_case(estate, now)
    demand = to_demand(estate, case.id, now)
    assert demand.status == "pending"
    result = sweep(now, inline=True)
    assert result.documents == 1
    demand = docs(case.id, "payment_demand")[0]
    text = text_of(demand)
    assert_holds(text)
    assert demand.template_version == "builtin-1"
    assert demand.path == f"{case.id}/payment_demand-{demand.id}.docx"
    assert "物业费催缴通知书" in text and "保留依法主张的权利" in text  # no penalty contracted
    assert f"{case.number}-CJ-{demand.id:04d}" in text

    letters.record_dispatch(demand.id, estate.collector, "ems", "EMS1001", None, now=now)
    deliver(case.id, estate.collector, now + timedelta(days=2), tracking_no="EMS1001",
            contents_label="物业费催缴通知书")
    later = now + timedelta(days=40)
    services.fire_event(case.id, "request_legal_action", estate.collector, now=later)
    services.fire_event(case.id, "approve_lawyer_letter", estate.legal, now=later)
    sweep(later, inline=True)
    letter = docs(case.id, "lawyer_letter")[0]
    text = text_of(letter)
    assert_holds(text)
    assert "浙江明信律师事务所" in text and "13301201810000000" in text
    assert "2026年11月23日" in text  # the earlier demand is recited with its date
    # the printed deadline before delivery: post days + letter days, rolled to a working day
    issued = later.date()
    assert 7 <= (letter.deadline - issued).days <= 30
    assert f"{letter.deadline.year}年{letter.deadline.month}月{letter.deadline.day}日" in text

    letters.record_dispatch(letter.id, estate.legal, "ems", "EMS2002", None, now=later)
    deliver(case.id, estate.legal, later + timedelta(days=2), tracking_no="EMS2002",
            contents_label="律师函")
    filing = later + timedelta(days=40)
    services.fire_event(case.id, "file_claim", estate.legal,
                        {"route": "suit", "court": "杭州市西湖区人民法院"}, now=filing)
    sweep(filing, inline=True)
    evidence, complaint = docs(case.id, "evidence_list")[0], docs(case.id, "complaint")[0]
    for doc in (evidence, complaint):
        text = text_of(doc)
        assert HOSTILE_NAME in text and "杭州市西湖区人民法院" in text
    assert "¥10,000,000.00" in text_of(complaint)  # 0.01 + 9,999,999.99 claimed
    assert "律师函" in text_of(evidence) and "物业费催缴通知书" in text_of(evidence)


def test_an_installment_agreement_renders_hostile_data(lettered, now):
    case = hostile_case(lettered, now)
    plan = [{"due_date": "2026-12-15", "amount": "5000000.00"},
            {"due_date": "2027-01-15", "amount": "5000000.00"}]
    services.fire_event(case.id, "promise_payment", lettered.collector,
                        {"installments": plan}, now=now)
    sweep(now, inline=True)
    [agreement] = docs(case.id, "installment_agreement")
    text = text_of(agreement)
    assert_holds(text)
    assert "¥5,000,000.00" in text and "2027年1月15日" in text


def test_a_tenant_debtor_names_the_owner_jointly_liable(lettered, now):
    case = hostile_case(lettered, now, name="李租户", kind="tenant", owner_name="王<业主>&")
    demand = to_demand(lettered, case.id, now)
    jobs.render_document_here(demand.id)
    text = text_of(docs(case.id, "payment_demand")[0])
    assert "李租户" in text and "王<业主>&" in text


# -- failures are recorded, never crash ---------------------------------------------------------


def test_a_broken_rule_marks_the_document_failed_with_its_message(lettered, now):
    case = hostile_case(lettered, now)
    demand = to_demand(lettered, case.id, now)
    db.session.get(DunningCase, case.id).debtor.identified = False
    db.session.commit()

    assert jobs.render_document_here(demand.id).startswith("failed")
    demand = docs(case.id, "payment_demand")[0]
    assert demand.status == "failed" and demand.sha256 is None
    assert "欠费责任人" in demand.error
    assert jobs.render_document_here(demand.id) == "already failed"

    # fixed and retried: the sweep renders it
    db.session.get(DunningCase, case.id).debtor.identified = True
    db.session.commit()
    letters.retry_document(demand.id)
    sweep(now, inline=True)
    assert docs(case.id, "payment_demand")[0].status == "rendered"


def test_missing_company_data_names_the_policy_keys(estate, now):
    demand = to_demand(estate, estate.case.id, now)  # the default policy: no bank account
    jobs.render_document_here(demand.id)
    demand = docs(estate.case.id, "payment_demand")[0]
    assert demand.status == "failed"
    assert "company.bank_name" in demand.error and "company.account_number" in demand.error
    assert "contract.rate_per_m2_month" in demand.error


def test_a_banned_phrase_in_the_policy_texts_stops_the_letter(estate, now):
    use_letter_policy(estate.community.id,
                      company={"payment_channels": ["前台缴费，逾期将停水"]})
    demand = to_demand(estate, estate.case.id, now)
    jobs.render_document_here(demand.id)
    demand = docs(estate.case.id, "payment_demand")[0]
    assert demand.status == "failed" and "“停水”" in demand.error
    assert not storage.exists(letters.document_relpath(demand))


def test_a_tenant_without_the_owner_name_fails_in_chinese(lettered, now):
    case = hostile_case(lettered, now, kind="tenant")
    demand = to_demand(lettered, case.id, now)
    jobs.render_document_here(demand.id)
    assert "业主姓名" in docs(case.id, "payment_demand")[0].error


# -- idempotency --------------------------------------------------------------------------------


def test_rendering_twice_makes_one_file_and_one_sha(lettered, now):
    demand = to_demand(lettered, lettered.case.id, now)
    assert jobs.render_document_here(demand.id) == "rendered"
    first = docs(lettered.case.id, "payment_demand")[0]
    sha, path = first.sha256, storage.path_of(first.path)
    mtime = path.stat().st_mtime_ns
    assert jobs.render_document_here(demand.id) == "already rendered"
    again = docs(lettered.case.id, "payment_demand")[0]
    assert (again.sha256, again.path) == (sha, first.path)
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]

    # the same facts render to the same bytes: a lost job rendering again would agree
    facts = letters.letter_facts(again)
    from documents.render import render_document, sha256_hex
    assert sha256_hex(render_document("payment_demand", facts)) == sha


class RecordingQueue:
    """Stands in for rq.Queue: remembers what it was handed, runs nothing."""

    def __init__(self) -> None:
        self.jobs: list[tuple] = []

    def enqueue(self, func, *args, job_id=None, **kw):
        self.jobs.append((func, args, job_id))


def test_the_sweep_enqueues_and_renders_each_document_once(lettered, now):
    demand = to_demand(lettered, lettered.case.id, now)
    queue = RecordingQueue()
    first = sweep(now, queue=queue)
    second = sweep(now + timedelta(minutes=1), queue=queue)
    doc_jobs = [j for j in queue.jobs if j[0] is jobs.render_documents]
    job_id = batch_job_id("docs", [demand.id])
    assert doc_jobs == [(jobs.render_documents, ([demand.id],), job_id)]
    assert first.documents == 1 and second.documents == 0
    assert docs(lettered.case.id)[0].enqueued_at is not None

    # the job was lost: after 15 minutes the sweep hands it over again, under the same id
    sweep(now + timedelta(minutes=20), queue=queue)
    doc_jobs = [j for j in queue.jobs if j[0] is jobs.render_documents]
    assert [j[2] for j in doc_jobs] == [job_id] * 2

    outcomes = [letters.render_many(*args) for _func, args, _ in doc_jobs]
    assert outcomes == [{"rendered": 1}, {"already": 1}]  # the worker runs both: one rendering
    assert sweep(now + timedelta(hours=1), inline=True).documents == 0
    [doc] = docs(lettered.case.id)
    assert doc.status == "rendered"
    assert len(list(storage.path_of(doc.path).parent.glob("*.docx"))) == 1


def test_inline_sweep_twice_renders_once(lettered, now):
    to_demand(lettered, lettered.case.id, now)
    assert sweep(now, inline=True).documents == 1
    sha = docs(lettered.case.id)[0].sha256
    assert sweep(now, inline=True).documents == 0
    assert docs(lettered.case.id)[0].sha256 == sha


def test_a_redis_failure_after_commit_is_only_logged(lettered, now, app, caplog):
    app.config.update(DOCUMENTS_ENQUEUE_ON_COMMIT=True, REDIS_URL="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.ERROR, logger="casework.letters"):
        demand = to_demand(lettered, lettered.case.id, now)  # commits, then cannot enqueue
    assert db.session.get(DunningCase, lettered.case.id).state == "formal_demand"
    assert demand.status == "pending" and demand.enqueued_at is None
    assert any(f"document {demand.id}" in r.getMessage() for r in caplog.records)
    app.config["DOCUMENTS_ENQUEUE_ON_COMMIT"] = False
    sweep(now, inline=True)  # picked up later
    assert docs(lettered.case.id)[0].status == "rendered"


def test_the_services_enqueue_after_commit(lettered, now, app, monkeypatch):
    handed: list[int] = []
    monkeypatch.setattr(letters, "enqueue_render", lambda doc_id, queue=None: handed.append(
        doc_id) or f"doc-{doc_id}")
    app.config.update(DOCUMENTS_ENQUEUE_ON_COMMIT=True, REDIS_URL="redis://127.0.0.1:6379/12")
    demand = to_demand(lettered, lettered.case.id, now)
    assert handed == [demand.id]
    assert docs(lettered.case.id)[0].enqueued_at is not None
    assert sweep(now, queue=RecordingQueue()).documents == 0  # not handed over twice


def test_without_redis_configured_the_sweep_alone_renders(lettered, now, app, caplog):
    app.config.update(DOCUMENTS_ENQUEUE_ON_COMMIT=True, REDIS_URL=None)
    with caplog.at_level(logging.DEBUG, logger="casework.letters"):
        demand = to_demand(lettered, lettered.case.id, now)
    assert demand.enqueued_at is None and not caplog.records  # no error per letter
    assert sweep(now, inline=True).documents == 1


# -- delivery grades and the limitation clock ---------------------------------------------------


def _expiries(case_id: int) -> dict[int, date]:
    db.session.expire_all()
    return {line.id: line.limitation_expiry for line in db.session.scalars(
        sa.select(ChargeLine).where(ChargeLine.case_id == case_id))}


def test_grade_a_resets_the_listed_periods_grade_c_does_not(lettered, now):
    weak = hostile_case(lettered, now)
    to_demand(lettered, weak.id, now)
    before = _expiries(weak.id)
    deliver(weak.id, lettered.collector, now, grade="C", proof_ref="门上张贴照片")
    assert _expiries(weak.id) == before
    [event] = [e for e in db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == weak.id, CaseEvent.name == "record_delivery"))]
    assert event.payload["weak_evidence"] is True and event.payload["limitation_reset"] == []

    strong = hostile_case(lettered, now)
    demand = to_demand(lettered, strong.id, now)
    sweep(now, inline=True)
    letters.record_dispatch(demand.id, lettered.collector, "ems", "EMS77", None, now=now)
    delivered = now + timedelta(days=3)
    ref = letters.attach_proof(demand.id, lettered.collector, "妥投截图.png", b"\x89PNG proof",
                               now=delivered)
    deliver(strong.id, lettered.collector, delivered, proof_ref=ref, tracking_no="EMS77",
            contents_label="物业费催缴通知书")
    expected = date(delivered.year + 3, delivered.month, delivered.day)
    assert set(_expiries(strong.id).values()) == {expected}
    doc = docs(strong.id, "payment_demand")[0]
    assert doc.grade == "A" and doc.proof_ref == ref
    assert storage.read(ref.removeprefix("store:")) == b"\x89PNG proof"


# -- dispatch -----------------------------------------------------------------------------------


def test_dispatch_is_recorded_and_audited(lettered, now):
    demand = to_demand(lettered, lettered.case.id, now)
    with pytest.raises(services.InvalidInput) as refused:
        letters.record_dispatch(demand.id, lettered.collector, "ems", "EMS1", None, now=now)
    assert refused.value.field == "document"  # not rendered yet
    sweep(now, inline=True)
    with pytest.raises(services.InvalidInput) as refused:
        letters.record_dispatch(demand.id, lettered.collector, "ems", "", None, now=now)
    assert refused.value.field == "tracking_no"
    with pytest.raises(services.InvalidInput):
        letters.record_dispatch(demand.id, lettered.collector, "pigeon", None, None, now=now)
    with pytest.raises(services.Forbidden):
        letters.record_dispatch(demand.id, lettered.collector2, "hand", None, None, now=now)

    letters.record_dispatch(demand.id, lettered.collector, "ems", " 1190000000001 ", None, now=now)
    doc = docs(lettered.case.id)[0]
    assert (doc.dispatch_channel, doc.tracking_no, doc.contents_label) == (
        "ems", "1190000000001", "物业费催缴通知书")
    assert doc.dispatched_at == now
    event = db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == lettered.case.id, CaseEvent.kind == "dispatch")).one()
    assert event.payload == {"document_id": doc.id, "document": "payment_demand",
                             "channel": "ems", "tracking_no": "1190000000001",
                             "contents_label": "物业费催缴通知书"}
    from casework.audit import verify_all
    assert verify_all([lettered.case.id])[1] == []


def test_attach_proof_refuses_empty_or_odd_files(lettered, now):
    demand = to_demand(lettered, lettered.case.id, now)
    with pytest.raises(services.InvalidInput):
        letters.attach_proof(demand.id, lettered.collector, "scan.png", b"", now=now)
    with pytest.raises(services.InvalidInput):
        letters.attach_proof(demand.id, lettered.collector, "run.exe", b"MZ", now=now)
    ref = letters.attach_proof(demand.id, lettered.collector, "../../短信送达报告.txt",
                               "短信已送达 13800138000".encode(), now=now)
    assert ref.startswith(f"store:{lettered.case.id}/proofs/") and ".." not in ref


# -- penalty ------------------------------------------------------------------------------------


def test_a_contracted_penalty_is_capped_at_lpr_times_one_and_a_half(lettered, now):
    case = hostile_case(lettered, now, name="罚息测试", amounts=(Decimal("1000.00"),),
                        rate=Decimal("0.003"))  # 3‰ a day, ~110% a year
    demand = to_demand(lettered, case.id, now)
    jobs.render_document_here(demand.id)
    doc = docs(case.id, "payment_demand")[0]
    text = text_of(doc)
    days = (now.date() - date(2024, 1, 28)).days
    cap = (Decimal("1000.00") * Decimal("0.03") * Decimal("1.5") * days / 365).quantize(
        Decimal("0.01"))
    assert cap < Decimal("1000.00") * Decimal("0.003") * days  # the cap bites
    assert f"¥{cap:,.2f}" in text
    assert "第十二条" in text and "每日按逾期未付金额的千分之三" not in text
    assert "万分之三十" in text
    assert "第585条" in text


def uncapped_penalty(lettered) -> None:
    """The letter policy with a cap so high that only the principal limits the penalty."""
    use_letter_policy(lettered.community.id)
    for policy in db.session.scalars(sa.select(Policy)):
        policy.data = {**policy.data, "penalty_cap_lpr_multiple": "100"}
    db.session.commit()


def test_the_penalty_never_exceeds_the_principal(lettered, now):
    uncapped_penalty(lettered)
    case = hostile_case(lettered, now, name="封顶测试", amounts=(Decimal("100.00"),),
                        rate=Decimal("0.01"))
    demand = to_demand(lettered, case.id, now)
    facts = letters.letter_facts(demand)
    assert facts.penalty is not None and facts.penalty.amount == Decimal("100.00")


def test_a_waived_late_fee_is_not_claimed_again(lettered, now):
    from casework.services.waivers import grant_waiver

    uncapped_penalty(lettered)
    case = hostile_case(lettered, now, name="减免测试", amounts=(Decimal("100.00"),),
                        rate=Decimal("0.01"))
    grant_waiver(case.id, lettered.supervisor, "10.00", "首次逾期，减免部分违约金", now=now)
    demand = to_demand(lettered, case.id, now)
    facts = letters.letter_facts(demand)
    assert facts.penalty is not None and facts.penalty.amount == Decimal("90.00")


def test_rate_wording():
    assert letters.rate_wording(Decimal("0.0003")) == "每日按逾期未付金额的万分之三"
    assert letters.rate_wording(Decimal("0.0005")) == "每日按逾期未付金额的万分之五"
    assert letters.rate_wording(Decimal("0.00015")) == "每日按逾期未付金额的0.015%"


# -- templates ----------------------------------------------------------------------------------


def _template_with(kind: str, paragraph: str) -> bytes:
    document = DocxFile(str(template_path(kind)))
    document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_template_with_a_banned_phrase_is_refused_naming_it(lettered):
    data = _template_with("payment_demand", "逾期不缴，将停水停电。")
    with pytest.raises(services.InvalidInput) as refused:
        letters.upload_template("payment_demand", data, lettered.admin)
    assert refused.value.field == "file"
    assert "“停水”" in refused.value.message and "“停电”" in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count(TemplateVersion.id))) == 0


def test_a_template_with_an_unknown_variable_is_refused_naming_it(lettered):
    data = _template_with("payment_demand", "滞纳金：{{ late_fee_total }}")
    with pytest.raises(services.InvalidInput) as refused:
        letters.upload_template("payment_demand", data, lettered.admin)
    assert "late_fee_total" in refused.value.message
    assert any("late_fee_total" in p for p in refused.value.problems)


def test_only_an_admin_uploads_templates(lettered):
    data = _template_with("payment_demand", "本通知书一式两份。")
    with pytest.raises(services.Forbidden):
        letters.upload_template("payment_demand", data, lettered.legal)


def test_a_valid_template_becomes_active_and_old_letters_keep_their_version(lettered, now):
    old = to_demand(lettered, lettered.case.id, now)
    jobs.render_document_here(old.id)

    data = _template_with("payment_demand", "本通知书一式两份，业主与物业各执一份。")
    version = letters.upload_template("payment_demand", data, lettered.admin)
    assert version.active and version.version.startswith("v2-")
    assert storage.read(version.path) == data

    case = hostile_case(lettered, now)
    new = to_demand(lettered, case.id, now)
    jobs.render_document_here(new.id)
    new = docs(case.id, "payment_demand")[0]
    assert new.template_version == version.version
    assert "一式两份" in text_of(new)
    old = docs(lettered.case.id, "payment_demand")[0]
    assert old.template_version == "builtin-1" and "一式两份" not in text_of(old)

    # uploading the same file again adds no version; builtin can be reactivated
    assert letters.upload_template("payment_demand", data, lettered.admin).id == version.id
    assert letters.activate_template("payment_demand", "builtin", None) == "builtin-1"
    assert letters.active_template("payment_demand")[1] == "builtin-1"


def test_template_cli_upload_and_list(lettered, runner, tmp_path):
    bad = tmp_path / "bad.docx"
    bad.write_bytes(_template_with("lawyer_letter", "否则将上报征信。"))
    result = runner.invoke(args=["templates", "upload", "lawyer_letter", str(bad)])
    assert result.exit_code != 0 and "征信" in result.output
    good = tmp_path / "good.docx"
    good.write_bytes(_template_with("lawyer_letter", "特此函告。"))
    result = runner.invoke(args=["templates", "upload", "lawyer_letter", str(good)])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["templates", "list"])
    assert "lawyer_letter" in listed.output and "v2-" in listed.output
    assert "payment_demand" in listed.output and "builtin-1" in listed.output


# -- batches (in-process; the worker run is in test_documents_worker.py) -------------------------


def test_a_batch_reports_a_failed_case_and_zips_the_rest(lettered, now):
    cases = [hostile_case(lettered, now, name=f"批量{i}") for i in range(3)]
    for case in cases:
        to_demand(lettered, case.id, now)
    cases[1].debtor.identified = False
    db.session.commit()
    building_ids = {case.charge_lines[0].unit.building_id for case in cases}
    result = letters.run_batch(case_ids=[c.id for c in cases])
    assert (result["done"], result["total"], result["files"]) == (3, 3, 2)
    [failure] = result["failed"]
    assert failure["case"] == cases[1].number and "欠费责任人" in failure["error"]
    with zipfile.ZipFile(io.BytesIO(storage.read(result["path"]))) as archive:
        names = archive.namelist()
    assert len(names) == 2 and all(n.endswith(".docx") for n in names)
    assert not any(cases[1].number in n for n in names)
    assert len(building_ids) == 3


# -- evidence pack ------------------------------------------------------------------------------


def test_the_evidence_pack_is_in_court_order(lettered, now, runner, tmp_path):
    case = hostile_case(lettered, now)
    demand = to_demand(lettered, case.id, now)
    sweep(now, inline=True)
    letters.record_dispatch(demand.id, lettered.collector, "ems", "EMS1", None, now=now)
    ref = letters.attach_proof(demand.id, lettered.collector, "签收回执.jpg", b"JPEG", now=now)
    deliver(case.id, lettered.collector, now + timedelta(days=1), proof_ref=ref)
    later = now + timedelta(days=40)
    services.fire_event(case.id, "request_legal_action", lettered.collector, now=later)
    services.fire_event(case.id, "approve_lawyer_letter", lettered.legal, now=later)
    sweep(later, inline=True)
    letter = docs(case.id, "lawyer_letter")[0]
    letters.record_dispatch(letter.id, lettered.legal, "sms", None, None, now=later)
    deliver(case.id, lettered.legal, later, grade="B", proof_ref="运营商短信送达报告：已送达")
    filing = later + timedelta(days=40)
    services.fire_event(case.id, "file_claim", lettered.legal,
                        {"route": "payment_order", "court": "杭州市西湖区人民法院"}, now=filing)

    data = letters.evidence_pack_for(case.id)  # renders what is still pending
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names[0] == "01_证据清单.docx" and names[1] == "02_物业费对账单.docx"
    assert names[2].startswith("03_物业费催缴通知书") and names[3].endswith("送达凭证.jpg")
    assert names[4].endswith("送达记录.txt")
    assert names[5].startswith("06_律师函") and names[6].endswith("送达记录.txt")
    assert names[7] == "08_催缴联系记录.csv" and names[8] == "09_支付令申请书（草稿）.docx"
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read(names[3]) == b"JPEG"
    assert "运营商短信送达报告" in archive.read(names[6]).decode()
    assert HOSTILE_NAME in docx_text(archive.read(names[1]))
    log = archive.read(names[7]).decode("utf-8-sig")
    assert log.count("\r\n") == 3 and "王催费" in log
    assert letters.evidence_pack_for(case.id) == data  # stable bytes

    out = tmp_path / "pack.zip"
    result = runner.invoke(args=["letters", "evidence", str(case.id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data


def test_no_evidence_pack_before_a_claim(lettered):
    with pytest.raises(services.InvalidInput):
        letters.evidence_pack_for(lettered.case.id)


# -- PDF ----------------------------------------------------------------------------------------


def _require_tool(tool: str | None, what: str) -> None:
    if tool:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{what} is not installed, and CI must convert letters to PDF")
    pytest.skip(f"{what} is not installed on this machine")


def test_libreoffice_makes_a_pdf_next_to_the_letter(lettered, now, app, tmp_path):
    _require_tool(find_office(), "LibreOffice (soffice)")
    _require_tool(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    app.config.update(DOCUMENT_PDF=True, LIBREOFFICE_PROFILE_DIR=str(tmp_path))
    case = hostile_case(lettered, now)
    to_demand(lettered, case.id, now)
    sweep(now, inline=True)
    doc = docs(case.id, "payment_demand")[0]
    pdf = letters.pdf_relpath(doc)
    assert pdf == doc.path.removesuffix(".docx") + ".pdf"
    text = subprocess.run(["pdftotext", "-layout", str(storage.path_of(pdf)), "-"],
                          capture_output=True, check=True, text=True).stdout
    assert HOSTILE_NAME in text
    # the body states the total on one line (the narrow table columns may wrap big amounts)
    assert "¥10,000,000.00" in text and "¥0.01" in text


def test_letters_cli_batch_inline_retry_and_sweep(lettered, now, runner):
    case = hostile_case(lettered, now)
    demand = to_demand(lettered, case.id, now)
    case.debtor.identified = False
    db.session.commit()
    building_id = case.charge_lines[0].unit.building_id
    result = runner.invoke(args=["letters", "batch", "--building", str(building_id), "--inline"])
    assert result.exit_code == 0, result.output
    assert "1/1 done, 1 failed" in result.output and "欠费责任人" in result.output

    db.session.get(DunningCase, case.id).debtor.identified = True
    db.session.commit()
    assert runner.invoke(args=["letters", "retry", str(demand.id)]).exit_code == 0
    assert runner.invoke(args=["letters", "retry", str(demand.id)]).exit_code != 0  # pending
    result = runner.invoke(args=["sweep", "--inline", "--now", "2026-11-23T10:00"])
    assert result.exit_code == 0, result.output
    assert "1 documents" in result.output
    assert docs(case.id, "payment_demand")[0].status == "rendered"


def test_a_failed_letter_shows_its_error_and_a_retry_to_staff_who_may_act(
        lettered, now, app, client, monkeypatch):
    from html import escape

    from tests.conftest import NOW
    from tests.factories import fast_password_hashing

    fast_password_hashing(monkeypatch)
    app.config.update(FROZEN_NOW=NOW, WTF_CSRF_ENABLED=False)
    case_id = lettered.case.id
    demand = to_demand(lettered, case_id, now)
    db.session.get(DunningCase, case_id).debtor.identified = False  # its builder fails
    db.session.commit()
    sweep(now, inline=True)
    [failed] = docs(case_id)
    assert failed.status == "failed" and "欠费责任人" in failed.error

    def page_as(user) -> str:
        client.post("/logout")
        signed = client.post("/login", data={"username": user.username,
                                             "password": "secret-" + user.username})
        assert signed.status_code == 302
        response = client.get(f"/cases/{case_id}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    retry_url = f"/documents/{demand.id}/retry"

    def row_of(page: str) -> str:
        row = page[page.index(f'data-document="{demand.id}"'):]
        return row[:row.index("</tr>")]

    auditor_row = row_of(page_as(lettered.auditor))  # reads why, does not act
    assert escape(failed.error) in auditor_row and retry_url not in auditor_row
    for user in (lettered.supervisor, lettered.collector):  # the case's collector too
        row = row_of(page_as(user))
        assert escape(failed.error) in row and retry_url in row and "重新生成" in row
    client.post("/logout")
    client.post("/login", data={"username": lettered.collector2.username,
                                "password": "secret-" + lettered.collector2.username})
    assert client.get(f"/cases/{case_id}").status_code == 403  # another collector's case
    assert client.post(retry_url, data={}).status_code == 403
    assert docs(case_id)[0].status == "failed"

    db.session.get(DunningCase, case_id).debtor.identified = True  # the data is fixed
    db.session.commit()
    page_as(lettered.collector)
    assert client.post(retry_url, data={}).status_code in (302, 303)
    [again] = docs(case_id)
    assert again.status == "pending" and again.error is None
    sweep(now, inline=True)
    [done] = docs(case_id)
    assert done.status == "rendered"
    assert retry_url not in page_as(lettered.supervisor)


def test_a_batch_renders_the_letters_the_one_by_one_path_would(lettered, now):
    """render_many reads its batch's rows in a few queries up front: same facts, same bytes."""
    from documents.contexts import build_context
    from documents.render import render_docx, sha256_hex

    later = now + timedelta(days=40)
    cases = [hostile_case(lettered, now, rate=Decimal("0.0005")) for _ in range(3)]
    for case in cases:
        demand = to_demand(lettered, case.id, now)
        letters.render_stored(demand.id)
        letters.record_dispatch(demand.id, lettered.collector, "ems", f"EMS{case.id}", None,
                                now=now)
        deliver(case.id, lettered.collector, now + timedelta(days=2), tracking_no=f"EMS{case.id}",
                contents_label="物业费催缴通知书")
        services.fire_event(case.id, "request_legal_action", lettered.collector, now=later)
        services.fire_event(case.id, "approve_lawyer_letter", lettered.legal, now=later)
    db.session.get(DunningCase, cases[2].id).debtor.identified = False  # its builder fails
    db.session.commit()
    ids = [docs(case.id, "lawyer_letter")[0].id for case in cases]

    assert letters.render_many(ids) == {"rendered": 2, "failed": 1}
    assert letters.render_many(ids) == {"already": 3}
    for case in cases[:2]:
        [letter] = docs(case.id, "lawyer_letter")
        again = render_docx("lawyer_letter", build_context("lawyer_letter",
                                                           letters.letter_facts(letter)))
        assert sha256_hex(again) == letter.sha256
        text = text_of(letter)
        assert "2026年11月23日" in text and "违约金" in text  # earlier demand, penalty
    assert "欠费责任人" in docs(cases[2].id, "lawyer_letter")[0].error
