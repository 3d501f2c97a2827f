from decimal import Decimal

from casework import services


def test_an_opened_case_owes_the_sum_of_its_periods(estate):
    assert estate.case.state == "preparation"
    assert services.outstanding(estate.case) == Decimal("1611.00")
