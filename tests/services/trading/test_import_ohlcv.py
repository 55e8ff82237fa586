import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trading.models import Candle

pytestmark = pytest.mark.django_db
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_ohlcv", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_a_csv_and_a_second_import_changes_nothing(tmp_path):
    path = tmp_path / "binance_BTC-USDT_1m.csv"
    path.write_text("timestamp_ms,open,high,low,close,volume\n60000,10,12,9,11,5\n120000,11,13,10,12.5,6\n")
    out, err = _run(str(path))
    assert "Imported 2 candles" in out and "2/2" in err
    _run(str(path), "--no-progress")
    candles = list(Candle.objects.order_by("ts"))
    assert len(candles) == 2
    c = candles[1]
    assert (c.exchange, c.symbol, c.timeframe) == ("binance", "BTC/USDT", "1m")
    assert c.close == Decimal("12.5") and c.ts.timestamp() == 120 and c.ts.tzinfo is not None


def test_a_bad_file_stops_with_its_line_and_stores_nothing(tmp_path):
    path = tmp_path / "binance_BTC-USDT_1m.csv"
    path.write_text("timestamp_ms,open,high,low,close,volume\n60000,10,12,9,11,5\n60000,10,12,9,11,5\n")
    with pytest.raises(CommandError, match="line 3"):
        _run(str(path))
    assert not Candle.objects.exists()


def test_it_imports_the_recorded_bittrex_candles():
    path = SHARED / "bittrex_LTC-BTC_5m.csv"
    if not path.exists():
        pytest.skip("recorded data in ../shared/data is absent (a user's clone)")
    out, _ = _run(str(path), "--no-progress")
    assert "Imported 5760 candles" in out
    assert Candle.objects.filter(exchange="bittrex", symbol="LTC/BTC", timeframe="5m").count() == 5760
