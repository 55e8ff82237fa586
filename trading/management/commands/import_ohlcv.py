"""Import recorded OHLCV CSV files (`<exchange>_<BASE>-<QUOTE>_<tf>.csv`) as candles."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from trading.feeds import parse_csv_name, read_csv
from trading.services.candles import candles_store


class Command(BaseCommand):
    help = "Import candles from CSV files with header timestamp_ms,open,high,low,close,volume."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="CSV files or folders holding them")
        parser.add_argument("--exchange", help="Override the exchange named by the file name")
        parser.add_argument("--symbol", help="Override the symbol named by the file name (e.g. BTC/USDT)")
        parser.add_argument("--timeframe", help="Override the timeframe named by the file name")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, files, exchange, symbol, timeframe, no_progress, **options):
        paths: list[Path] = []
        for name in files:
            p = Path(name)
            if p.is_dir():
                paths += sorted(p.glob("*.csv"))
            elif p.is_file():
                paths.append(p)
            else:
                raise CommandError(f"{name}: no such file or folder")
        total = 0
        for path in paths:
            try:
                ex, sym, tf = parse_csv_name(path) if not (exchange and symbol and timeframe) else (None, None, None)
                bars = read_csv(path)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            ex, sym, tf = exchange or ex, symbol or sym, timeframe or tf
            with tqdm(total=len(bars), desc=path.name, unit="candle", disable=no_progress,
                      file=self.stderr._out) as bar:
                total += candles_store(exchange=ex, symbol=sym, timeframe=tf, bars=bars, progress=bar.update)
            self.stdout.write(f"{path.name}: {len(bars)} candles for {ex} {sym} {tf}")
        self.stdout.write(self.style.SUCCESS(f"Imported {total} candles from {len(paths)} file(s)."))
